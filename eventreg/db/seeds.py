"""The seed runner: sample data in batches that can be undone exactly.

A seed file names its tables in its header: `-- table: events` (counted in the
messages) and `-- also: event_organisers` for any other table it inserts into.
`run` applies every pending seed as one batch in one repeatable-read transaction
and records the primary key of each row the batch inserted (seed_rows.py); a seed
that adds no row fails the batch. A seed whose tables reference tables another
seed fills (through foreign keys) needs that seed applied first.

`undo` removes exactly the rows a batch (or, with `only`, one seed) inserted. It
refuses while rows made outside the seeds depend on them, unless told to delete
or unlink those too, and refuses any undo after which `db doctor` would find a
violation it did not find before (a seat freed while people wait). It first runs
the whole undo in a transaction that it rolls back, to say exactly what will go,
then asks, then does it again for real and commits only if nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from eventreg.db import seed_rows, sqltext
from eventreg.db.connection import connect, first_line, reset_session
from eventreg.db.doctor import violations
from eventreg.db.files import SqlFile, discover, os_user
from eventreg.db.lock import locked_session, still_held
from eventreg.db.privileges import require_owner
from eventreg.errors import DomainError, NotFound

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS seed_batches (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL
);
CREATE TABLE IF NOT EXISTS seed_history (
    name       text PRIMARY KEY,
    batch_id   bigint NOT NULL REFERENCES seed_batches (id) ON DELETE CASCADE,
    checksum   text NOT NULL,
    row_count  integer NOT NULL,
    table_oid  oid,  -- the seeded table as it was: a rollback that drops it voids the entry
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE seed_history ADD COLUMN IF NOT EXISTS rows_recorded boolean NOT NULL DEFAULT false;
"""

Report = Callable[[str, SqlFile | None, dict[str, Any]], None]


class SeedFailed(DomainError):
    pass


@dataclass
class UndoPlan:
    seeds: list[str]
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows
    people: list[str] = field(default_factory=list)  # seeded users that go
    events: list[str] = field(default_factory=list)  # seeded events that go
    dependents: seed_rows.Dependents = field(default_factory=seed_rows.Dependents)
    new_violations: list[str] = field(default_factory=list)

    def same_as(self, other: UndoPlan) -> bool:
        return (self.seeds, self.deleted, self.dependents.count, self.new_violations) == (
            other.seeds,
            other.deleted,
            other.dependents.count,
            other.new_violations,
        )


def _quiet(kind: str, file: SqlFile | None, info: dict[str, Any]) -> None:
    return None


def tables_of(file: SqlFile) -> list[str]:
    """The tables a seed file declares: its `-- table:` first, then those of `-- also:`."""
    main = file.header("table")
    also = [t.strip() for t in (file.header("also") or "").split(",") if t.strip()]
    return ([main] if main else []) + also


class SeedRunner:
    def __init__(
        self,
        url: str,
        directory: Path,
        lock_timeout: float = 60.0,
        report: Report = _quiet,
        table_lock_wait_ms: int | None = None,
    ):
        self.url = url
        self.sql_dir = directory / "sql"
        self.lock_timeout = lock_timeout
        self.table_lock_wait_ms = table_lock_wait_ms
        self.report = report

    # -- reading ---------------------------------------------------------------------

    def _applied(self, conn: Any) -> dict[str, dict[str, Any]]:
        """Applied seeds; one whose table a rollback has since dropped counts as pending."""
        if not conn.execute("SELECT to_regclass('seed_history') IS NOT NULL AS ok").fetchone()["ok"]:
            return {}
        rows = conn.execute(
            "SELECT h.*, h.table_oid IS NULL OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = h.table_oid)"
            " AS table_alive FROM seed_history h ORDER BY name"
        ).fetchall()
        return {row["name"]: row for row in rows if row["table_alive"]}

    def _forget_dropped(self, conn: Any) -> None:
        conn.execute(
            "DELETE FROM seed_history h WHERE h.table_oid IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = h.table_oid)"
        )
        conn.execute("DELETE FROM seed_rows r WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.table_oid)")
        conn.execute(
            "DELETE FROM seed_batches b WHERE NOT EXISTS (SELECT 1 FROM seed_history h WHERE h.batch_id = b.id)"
        )

    def status(self) -> list[dict[str, Any]]:
        with connect(self.url, autocommit=True) as conn:
            applied = self._applied(conn)
        out = []
        for file in discover(self.sql_dir):
            row = applied.get(file.name)
            state = "pending" if row is None else "modified" if row["checksum"] != file.checksum() else "applied"
            out.append(
                {
                    "version": file.version,
                    "name": file.name,
                    "table": file.header("table"),
                    "state": state,
                    "batch": row["batch_id"] if row else None,
                    "rows": row["row_count"] if row else None,
                    "applied_at": row["applied_at"] if row else None,
                }
            )
        return out

    def _select(self, only: str | None) -> list[SqlFile]:
        files = discover(self.sql_dir)
        if only is None:
            return files
        chosen = [f for f in files if only in (f.name, f.path.stem, f.header("table"))]
        if not chosen:
            raise NotFound(f"no seed named {only!r} in {self.sql_dir}")
        return chosen

    # -- seeding ---------------------------------------------------------------------

    def run(self, only: str | None = None) -> list[tuple[SqlFile, int]]:
        with locked_session(self.url, "seed", self.lock_timeout, self.table_lock_wait_ms) as conn:
            require_owner(conn, "db seed")
            conn.execute(HISTORY_DDL)
            conn.execute(seed_rows.DDL)
            self._forget_dropped(conn)
            applied = self._applied(conn)
            files = discover(self.sql_dir)
            for file in files:
                if file.name in applied and applied[file.name]["checksum"] != file.checksum():
                    self.report("seed-modified", file, {"batch": applied[file.name]["batch_id"]})
            todo = [f for f in self._select(only) if f.name not in applied]
            if not todo:
                return []
            for file in todo:
                sqltext.check_runnable(file.name, file.text())
            self._require_dependencies(conn, todo, files, applied)
            done = self._seed(conn, todo)
            for file, rows in done:
                self.report(
                    "seeded",
                    file,
                    {"table": file.header("table"), "rows": rows, "label": file.header("label") or "rows"},
                )
            return done

    def _seed(self, conn: Any, todo: list[SqlFile]) -> list[tuple[SqlFile, int]]:
        done: list[tuple[SqlFile, int]] = []
        with conn.transaction():
            # One snapshot for the batch: rows others commit meanwhile are not taken for ours.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            batch = conn.execute(
                "INSERT INTO seed_batches (applied_by) VALUES (%s) RETURNING id", (os_user(),)
            ).fetchone()["id"]
            for file in todo:
                self.report("seeding", file, {"table": file.header("table")})
                try:
                    rows = self._seed_file(conn, file, batch, slot=len(done))
                except psycopg.Error as exc:
                    raise SeedFailed(f"{file.name} failed, nothing was seeded: {first_line(exc)}") from exc
                done.append((file, rows))
        return done

    def _seed_file(self, conn: Any, file: SqlFile, batch: int, slot: int) -> int:
        names = tables_of(file)
        if not names:
            raise SeedFailed(f"{file.name} has no `-- table:` header line; nothing was seeded")
        targets = []
        for name in names:
            target = seed_rows.table(conn, name)
            if target is None or not target.key:
                why = "no such table" if target is None else "it has no primary key"
                raise SeedFailed(f"{file.name} declares table {name}, but {why}; nothing was seeded")
            targets.append(target)
        before = [seed_rows.snapshot(conn, t, slot * 100 + i) for i, t in enumerate(targets)]
        conn.execute(file.text())
        reset_session(conn, drop_temp=False)  # the batch's own snapshots are temporary tables
        if not still_held(conn):
            raise SeedFailed(f"{file.name} released the seed lock (pg_advisory_unlock...); nothing was seeded")
        conn.execute(
            "INSERT INTO seed_history (name, batch_id, checksum, row_count, table_oid, rows_recorded)"
            " VALUES (%s, %s, %s, 0, %s, true)",
            (file.name, batch, file.checksum(), targets[0].oid),
        )
        counts = [
            seed_rows.record_new(conn, file.name, i, t, b) for i, (t, b) in enumerate(zip(targets, before, strict=True))
        ]
        if counts[0] == 0:
            raise SeedFailed(
                f"{file.name} added no rows to {names[0]} (does it need data that is not there?); nothing was seeded"
            )
        conn.execute("UPDATE seed_history SET row_count = %s WHERE name = %s", (counts[0], file.name))
        return counts[0]

    def _require_dependencies(
        self, conn: Any, todo: list[SqlFile], files: list[SqlFile], applied: dict[str, dict[str, Any]]
    ) -> None:
        """Refuse a seed whose tables reference tables another seed fills that is not applied nor in this batch."""
        filler = {t: f for f in files for t in tables_of(f)}
        ready = set(applied) | {f.name for f in todo}
        for file in todo:
            own = tables_of(file)
            needed = [
                filler[t]
                for t in _referenced(conn, own)
                if t in filler and t not in own and filler[t].name not in ready
            ]
            if needed:
                names = ", ".join(sorted({f"{f.name} ({f.header('table')})" for f in needed}))
                raise DomainError(
                    f"{file.name} needs seeds that are not applied: {names}; run `eventreg db seed` for all, "
                    "or seed those first with --only; nothing was seeded"
                )

    # -- undoing ---------------------------------------------------------------------

    def undo(
        self,
        only: str | None = None,
        with_dependents: bool = False,
        dry_run: bool = False,
        confirm: Callable[[UndoPlan], bool] | None = None,
    ) -> UndoPlan | None:
        """Undo the latest batch (or the seed `only` names); None when there is nothing to undo."""
        with locked_session(self.url, "seed undo", self.lock_timeout, self.table_lock_wait_ms) as conn:
            require_owner(conn, "db seed --undo")
            if not self._applied(conn):
                return None
            conn.execute(HISTORY_DDL)  # a database seeded by an older eventreg gets the newer columns
            conn.execute(seed_rows.DDL)
            self._forget_dropped(conn)
            seeds = self._chosen(conn, only)
            if not seeds:
                return None
            with conn.transaction(force_rollback=True):
                plan = self._undo(conn, seeds)
            self.report("undo-plan", None, {"plan": plan})
            try:
                self._refuse(plan, with_dependents)
            except DomainError as refusal:
                if dry_run:  # say what the real run would do, not that this one failed
                    raise DomainError(f"the undo would be refused: {refusal.message}") from None
                raise
            if dry_run:
                return plan
            if confirm is not None and not confirm(plan):
                raise DomainError("nothing was undone")
            with conn.transaction():
                done = self._undo(conn, seeds)
                if not done.same_as(plan):
                    raise DomainError("the data changed while you were asked; nothing was undone: run it again")
                conn.execute("DELETE FROM seed_history WHERE name = ANY(%s)", (seeds,))
                conn.execute(
                    "DELETE FROM seed_batches b WHERE NOT EXISTS (SELECT 1 FROM seed_history h WHERE h.batch_id = b.id)"
                )
            return done

    def _chosen(self, conn: Any, only: str | None) -> list[str]:
        applied = self._applied(conn)
        if only is not None:
            names = [f.name for f in self._select(only)]
            seeds = [n for n in names if n in applied]
        else:
            batch = max(row["batch_id"] for row in applied.values())
            seeds = [n for n, row in applied.items() if row["batch_id"] == batch]
        legacy = [n for n in seeds if not applied[n]["rows_recorded"]]
        if legacy:
            raise DomainError(
                f"{', '.join(sorted(legacy))} was seeded by an older eventreg that did not record its rows, "
                "so it cannot be undone exactly: delete its rows by hand, then its seed_history row; nothing was undone"
            )
        return sorted(seeds, reverse=True)

    def _undo(self, conn: Any, seeds: list[str]) -> UndoPlan:
        """Lock, look for dependents, delete, compare the doctor's findings; the caller commits or not."""
        plan = UndoPlan(seeds)
        pairs = seed_rows.recorded_tables(conn, seeds)
        tables = list({t.oid: t for _, t in pairs}.values())
        for target in tables:
            seed_rows.lock(conn, target, seeds)
        plan.dependents = seed_rows.dependents(conn, tables, seeds)
        if plan.dependents.seeds or plan.dependents.blocking:
            return plan  # refused whatever the flags: no point deleting
        plan.people = _seeded(conn, tables, seeds, "users", "email")
        plan.events = _seeded(conn, tables, seeds, "events", "slug")
        before = violations(conn)
        for seed, target in pairs:
            plan.deleted[target.name] = plan.deleted.get(target.name, 0) + seed_rows.delete(conn, target, seed)
        plan.new_violations = sorted(violations(conn) - before)
        return plan

    @staticmethod
    def _refuse(plan: UndoPlan, with_dependents: bool) -> None:
        found = plan.dependents
        if found.seeds:
            raise DomainError(
                f"other seeds depend on {', '.join(plan.seeds)}: {', '.join(sorted(found.seeds))}; "
                "undo those first (or the whole batch); nothing was undone"
            )
        if found.blocking:
            raise DomainError(
                f"{found.blocking} row(s) made outside the seeds block the delete (listed above); nothing was undone"
            )
        if found.count and not with_dependents:
            raise DomainError(
                f"{found.count} row(s) made outside the seeds depend on the seed data (listed above); "
                "nothing was undone: pass --with-dependents to delete or unlink them too"
            )
        if plan.new_violations:
            raise DomainError(
                "undoing would leave the database failing `eventreg db doctor`: "
                f"{'; '.join(plan.new_violations)}; nothing was undone"
            )


def _referenced(conn: Any, tables: list[str]) -> list[str]:
    """Tables that these tables reference through foreign keys."""
    rows = conn.execute(
        "SELECT DISTINCT c.confrelid::regclass::text AS parent FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.conrelid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest(%s::text[]) t))",
        (tables,),
    ).fetchall()
    return [r["parent"] for r in rows]


def _seeded(conn: Any, tables: list[seed_rows.Table], seeds: list[str], name: str, column: str) -> list[str]:
    """Emails or slugs of the seeded rows of one table, for saying who and what goes."""
    target = next((t for t in tables if t.name == name), None)
    if target is None:
        return []
    query = sql.SQL("SELECT {col} AS v FROM {t} t WHERE {key} IN {recorded} ORDER BY 1").format(
        col=sql.Identifier("t", column), t=target.ident, key=target.key_columns("t"), recorded=target.recorded()
    )
    return [str(r["v"]) for r in conn.execute(query, {"seeds": seeds}).fetchall()]
