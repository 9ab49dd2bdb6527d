"""The seed runner: sample data in batches that can be undone.

`run` applies every seed not applied yet as one batch, in one transaction;
`undo` reverts the most recent batch by running its undo files newest first,
also in one transaction. Either way nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventreg.db.connection import connect, first_line
from eventreg.db.files import SqlFile, discover, os_user
from eventreg.db.lock import tooling_lock
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
"""

Report = Callable[[str, SqlFile, dict[str, Any]], None]


class SeedFailed(DomainError):
    pass


def _quiet(kind: str, file: SqlFile, info: dict[str, Any]) -> None:
    return None


def _scalar(conn: Any, query: Any, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else next(iter(row.values()))


def _count(conn: Any, table: str) -> int:
    from psycopg import sql

    return int(_scalar(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))))


class SeedRunner:
    def __init__(self, url: str, directory: Path, lock_timeout: float = 60.0, report: Report = _quiet):
        self.url = url
        self.sql_dir = directory / "sql"
        self.undo_dir = directory / "undo"
        self.lock_timeout = lock_timeout
        self.report = report

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
        applied = self._applied(conn)
        stale = [
            r["name"] for r in conn.execute("SELECT name FROM seed_history").fetchall() if r["name"] not in applied
        ]
        if stale:
            conn.execute("DELETE FROM seed_history WHERE name = ANY(%s)", (stale,))
            conn.execute(
                "DELETE FROM seed_batches b WHERE NOT EXISTS (SELECT 1 FROM seed_history h WHERE h.batch_id = b.id)"
            )

    def status(self) -> list[dict[str, Any]]:
        with connect(self.url) as conn:
            applied = self._applied(conn)
        out = []
        for file in discover(self.sql_dir):
            row = applied.get(file.name)
            out.append(
                {
                    "version": file.version,
                    "name": file.name,
                    "table": file.header("table"),
                    "state": "applied" if row else "pending",
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

    def run(self, only: str | None = None) -> list[tuple[SqlFile, int]]:
        import psycopg

        with tooling_lock(self.url, "seed", self.lock_timeout), connect(self.url) as conn:
            conn.execute(HISTORY_DDL)
            self._forget_dropped(conn)
            applied = self._applied(conn)
            todo = [f for f in self._select(only) if f.name not in applied]
            done: list[tuple[SqlFile, int]] = []
            if not todo:
                return done
            with conn.transaction():
                batch = _scalar(conn, "INSERT INTO seed_batches (applied_by) VALUES (%s) RETURNING id", (os_user(),))
                for file in todo:
                    table = file.header("table")
                    self.report("seeding", file, {"table": table})
                    try:
                        before = _count(conn, table) if table else 0
                        conn.execute(file.text())
                        rows = (_count(conn, table) - before) if table else 0
                    except psycopg.Error as exc:
                        raise SeedFailed(f"{file.name} failed, nothing was seeded: {first_line(exc)}") from exc
                    conn.execute(
                        "INSERT INTO seed_history (name, batch_id, checksum, row_count, table_oid)"
                        " VALUES (%s, %s, %s, %s, to_regclass(%s))",
                        (file.name, batch, file.checksum(), rows, table),
                    )
                    done.append((file, rows))
            for file, rows in done:
                self.report(
                    "seeded",
                    file,
                    {"table": file.header("table"), "rows": rows, "label": file.header("label") or "rows"},
                )
            return done

    def undo(self) -> list[SqlFile]:
        import psycopg

        with tooling_lock(self.url, "seed undo", self.lock_timeout), connect(self.url) as conn:
            if not self._applied(conn):
                return []
            batch = _scalar(conn, "SELECT max(id) FROM seed_batches")
            names = [
                r["name"]
                for r in conn.execute(
                    "SELECT name FROM seed_history WHERE batch_id = %s ORDER BY name DESC", (batch,)
                ).fetchall()
            ]
            undos = {f.name: f for f in discover(self.undo_dir)} if self.undo_dir.is_dir() else {}
            missing = [n for n in names if n not in undos]
            if missing:
                raise DomainError(f"no undo file for {', '.join(missing)} in {self.undo_dir}; nothing was undone")
            with conn.transaction():
                for name in names:
                    file = undos[name]
                    try:
                        conn.execute(file.text())
                    except psycopg.Error as exc:
                        raise SeedFailed(f"{file.name} failed, nothing was undone: {first_line(exc)}") from exc
                    self.report("undone", file, {})
                conn.execute("DELETE FROM seed_batches WHERE id = %s", (batch,))
            return [undos[n] for n in names]
