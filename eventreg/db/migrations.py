"""The migration runner: a library API; `eventreg db` is a thin shell over it.

Each up file runs in one transaction together with its history row, so a file is
either applied and recorded or neither. A session-level advisory lock (see lock.py)
keeps two runs from interleaving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from eventreg.db.connection import connect, first_line
from eventreg.db.files import SqlFile, discover, os_user, split_statements
from eventreg.db.history_log import append_log
from eventreg.db.lock import tooling_lock
from eventreg.errors import DomainError, InvalidInput, NotFound

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version      text PRIMARY KEY,
    name         text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    applied_by   text NOT NULL,
    execution_ms integer NOT NULL
)
"""

Report = Callable[[str, SqlFile, dict[str, Any]], None]


class MigrationFailed(DomainError):
    pass


@dataclass
class MigrationState:
    version: str
    name: str
    state: str  # applied | pending | modified | missing
    applied_at: Any = None
    checksum: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state,
            "applied_at": self.applied_at,
            "checksum": self.checksum,
        }


def _quiet(kind: str, file: SqlFile, info: dict[str, Any]) -> None:
    return None


class MigrationRunner:
    def __init__(
        self,
        url: str,
        directory: Path,
        log: Path,
        lock_timeout: float = 60.0,
        report: Report = _quiet,
    ) -> None:
        self.url = url
        self.up_dir = directory / "up"
        self.down_dir = directory / "down"
        self.log = log
        self.lock_timeout = lock_timeout
        self.report = report

    # -- reading ---------------------------------------------------------------------

    def _applied(self, conn: Any) -> dict[str, dict[str, Any]]:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok").fetchone()
        if not exists["ok"]:
            return {}
        rows = conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
        return {row["version"]: row for row in rows}

    def status(self) -> list[MigrationState]:
        files = {f.version: f for f in discover(self.up_dir)}
        with connect(self.url) as conn:
            applied = self._applied(conn)
        states: list[MigrationState] = []
        for version in sorted(set(files) | set(applied), key=int):
            file, row = files.get(version), applied.get(version)
            if row is None:
                assert file is not None
                states.append(MigrationState(version, file.name, "pending", checksum=file.checksum()))
            elif file is None:
                states.append(MigrationState(version, row["name"], "missing", row["applied_at"], row["checksum"]))
            else:
                state = "applied" if file.checksum() == row["checksum"] else "modified"
                states.append(MigrationState(version, file.name, state, row["applied_at"], row["checksum"]))
        return states

    # -- migrate ---------------------------------------------------------------------

    def plan(
        self,
        conn: Any,
        to: str | None = None,
        allow_modified: bool = False,
        allow_out_of_order: bool = False,
    ) -> list[SqlFile]:
        files = discover(self.up_dir)
        applied = self._applied(conn)
        known = {f.version for f in files}
        if to is not None and to not in known:
            raise NotFound(f"no migration with version {to}")
        if not allow_modified:
            modified = [
                f.name for f in files if f.version in applied and applied[f.version]["checksum"] != f.checksum()
            ]
            if modified:
                raise DomainError(
                    f"applied migration changed on disk: {', '.join(modified)} (restore it, or pass --allow-modified)"
                )
        pending = [f for f in files if f.version not in applied]
        if to is not None:
            pending = [f for f in pending if int(f.version) <= int(to)]
        newest = max((int(v) for v in applied), default=0)
        late = [f.name for f in pending if int(f.version) < newest]
        if late and not allow_out_of_order:
            raise DomainError(
                f"pending migration older than the newest applied one: {', '.join(late)} "
                "(pass --allow-out-of-order to apply it anyway)"
            )
        return pending

    def migrate(
        self,
        to: str | None = None,
        dry_run: bool = False,
        allow_modified: bool = False,
        allow_out_of_order: bool = False,
    ) -> list[SqlFile]:
        with tooling_lock(self.url, "migrate", self.lock_timeout), connect(self.url) as conn:
            if not dry_run:
                conn.execute(HISTORY_DDL)
            pending = self.plan(conn, to, allow_modified, allow_out_of_order)
            for file in pending:
                if dry_run:
                    self.report("would-run", file, {"sql": file.text()})
                    continue
                self.report("running", file, {})
                elapsed = self._run(conn, file, partial(self._record_up, file))
                append_log(self.log, self._log_entry("migrate", file, elapsed))
                self.report("applied", file, {"ms": elapsed})
            return pending

    @staticmethod
    def _record_up(file: SqlFile, conn: Any, elapsed: int) -> None:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_by, execution_ms)"
            " VALUES (%s, %s, %s, %s, %s)",
            (file.version, file.name, file.checksum(), os_user(), elapsed),
        )

    @staticmethod
    def _record_down(version: str, conn: Any, elapsed: int) -> None:
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))

    def _run(self, conn: Any, file: SqlFile, record: Callable[[Any, int], None]) -> int:
        """Run one file and its history statement; both commit or neither does."""
        import psycopg

        started = time.perf_counter()
        sql = file.text()
        try:
            if file.no_transaction:
                # e.g. CREATE INDEX CONCURRENTLY, which refuses to run inside a transaction;
                # such a file must be safe to re-run (IF NOT EXISTS), as it cannot roll back.
                for part in split_statements(sql):
                    conn.execute(part)
                elapsed = _ms(started)
                record(conn, elapsed)
            else:
                with conn.transaction():
                    conn.execute(sql)
                    elapsed = _ms(started)
                    record(conn, elapsed)
        except psycopg.Error as exc:
            raise MigrationFailed(f"{file.name} failed and was rolled back: {first_line(exc)}") from exc
        return elapsed

    def _log_entry(self, operation: str, file: SqlFile, elapsed: int) -> dict[str, Any]:
        return {
            "operation": operation,
            "version": file.version,
            "name": file.name,
            "checksum": file.checksum(),
            "execution_ms": elapsed,
            "by": os_user(),
        }

    # -- rollback --------------------------------------------------------------------

    def rollback(self, steps: int | None = None, to: str | None = None, dry_run: bool = False) -> list[SqlFile]:
        if steps is not None and to is not None:
            raise InvalidInput("give --steps or --to, not both")
        if steps is not None and steps < 1:
            raise InvalidInput("--steps must be 1 or more")
        with tooling_lock(self.url, "rollback", self.lock_timeout), connect(self.url) as conn:
            applied = sorted(self._applied(conn).values(), key=lambda r: int(r["version"]), reverse=True)
            if to is not None:
                if to != "0" and to not in {r["version"] for r in applied}:
                    raise NotFound(f"migration {to} is not applied")
                targets = [r for r in applied if int(r["version"]) > int(to)]
            else:
                targets = applied[: steps or 1]
            downs = {f.version: f for f in discover(self.down_dir)} if self.down_dir.is_dir() else {}
            missing = [r["name"] for r in targets if r["version"] not in downs]
            if missing:
                raise DomainError(f"no down file for {', '.join(missing)} in {self.down_dir}; nothing was rolled back")
            for row in targets:
                file = downs[row["version"]]
                if dry_run:
                    self.report("would-revert", file, {"sql": file.text()})
                    continue
                self.report("reverting", file, {})
                elapsed = self._run(conn, file, partial(self._record_down, row["version"]))
                append_log(self.log, self._log_entry("rollback", file, elapsed))
                self.report("reverted", file, {"ms": elapsed})
            return [downs[r["version"]] for r in targets]

    # -- new -------------------------------------------------------------------------

    def new(self, name: str) -> tuple[Path, Path]:
        import re

        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        if not slug:
            raise InvalidInput("a migration name needs letters or digits")
        self.up_dir.mkdir(parents=True, exist_ok=True)
        self.down_dir.mkdir(parents=True, exist_ok=True)
        versions = [int(f.version) for f in discover(self.up_dir)]
        version = f"{(max(versions, default=0) + 1):04d}"
        up = self.up_dir / f"{version}_{slug}.sql"
        down = self.down_dir / f"{version}_{slug}.sql"
        up.write_text(f"-- {up.name}: describe the change here\n", encoding="utf-8")
        down.write_text(f"-- {down.name}: undo {up.name}\n", encoding="utf-8")
        return up, down


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
