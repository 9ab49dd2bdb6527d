"""The migration runner: a library API; `eventreg db` is a thin shell over it.

Each up file runs in one transaction together with its history row, so a file is
either applied and recorded or neither. A file marked `-- eventreg:no-transaction`
runs statement by statement; if it stops halfway, the history says so (see
migration_history.py) and nothing runs past it until `db repair`. The tooling lock
(lock.py) is held by the connection that does the work. Before anything runs, the
folder is validated against the history, as Flyway's validate does: an applied file
that is missing or changed stops the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventreg.db import migration_history as history
from eventreg.db import sqltext
from eventreg.db.apply import MigrationFailed, run_file
from eventreg.db.connection import connect
from eventreg.db.files import SqlFile, discover, os_user, version_number
from eventreg.db.history_log import append_log, database_label, set_aside
from eventreg.db.impact import Loss, losses
from eventreg.db.lock import holder, locked_session
from eventreg.db.privileges import regrant, require_owner
from eventreg.errors import DomainError, InvalidInput, NotFound

__all__ = ["MigrationFailed", "MigrationRunner", "MigrationState", "RollbackPlan"]

Report = Callable[[str, SqlFile | None, dict[str, Any]], None]


@dataclass
class MigrationState:
    version: str
    name: str
    state: str  # applied | pending | modified | missing | failed | running
    applied_at: Any = None
    checksum: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state,
            "applied_at": self.applied_at,
            "checksum": self.checksum,
            "detail": self.detail,
        }


@dataclass
class RollbackPlan:
    files: list[SqlFile]  # newest first
    losses: dict[str, list[Loss]] = field(default_factory=dict)  # file name -> what it drops


def _quiet(kind: str, file: SqlFile | None, info: dict[str, Any]) -> None:
    return None


def _by_version(row: dict[str, Any]) -> int:
    return int(row["version"])


class MigrationRunner:
    def __init__(
        self,
        url: str,
        directory: Path,
        log: Path,
        lock_timeout: float = 60.0,
        report: Report = _quiet,
        env: str | None = None,
        table_lock_wait_ms: int | None = None,
    ) -> None:
        self.url = url
        self.up_dir = directory / "up"
        self.down_dir = directory / "down"
        self.log = log
        self.lock_timeout = lock_timeout
        self.table_lock_wait_ms = table_lock_wait_ms
        self.report = report
        self.env = env
        self.database = database_label(url)

    # -- reading ---------------------------------------------------------------------

    def status(self) -> list[MigrationState]:
        files = {f.version: f for f in discover(self.up_dir)}
        with connect(self.url, autocommit=True) as conn:
            applied = history.applied(conn)
            failures = {f.version: f for f in history.failures(conn)}
            busy = holder(conn) if failures else None
        states: list[MigrationState] = []
        for version in sorted(set(files) | set(applied) | set(failures), key=int):
            file, row, failure = files.get(version), applied.get(version), failures.get(version)
            name = file.name if file else (row or {}).get("name") or (failure.name if failure else version)
            if failure is not None:
                running = busy is not None and failure.failed_at is None and busy["operation"] == failure.operation
                at, checksum = (row["applied_at"], row["checksum"]) if row else (None, None)
                detail = failure.describe(running_as=busy["pid"] if running and busy else None)
                states.append(MigrationState(version, name, "running" if running else "failed", at, checksum, detail))
            elif row is None:
                assert file is not None
                states.append(MigrationState(version, name, "pending", checksum=file.checksum()))
            elif file is None:
                detail = f"applied, but no file in {self.up_dir}"
                states.append(MigrationState(version, name, "missing", row["applied_at"], row["checksum"], detail))
            elif file.checksum() != row["checksum"]:
                detail = f"changed since it was applied (recorded {row['checksum'][:12]}, file {file.checksum()[:12]})"
                states.append(MigrationState(version, name, "modified", row["applied_at"], row["checksum"], detail))
            else:
                states.append(MigrationState(version, name, "applied", row["applied_at"], row["checksum"]))
        return states

    def validate(self, conn: Any, allow_modified: bool = False) -> None:
        """Refuse (naming every file) when the history is dirty or an applied file is missing or changed."""
        files = {f.version: f for f in discover(self.up_dir)}
        applied = history.applied(conn)
        problems = [
            f"{f.describe()}; fix the database by hand (`eventreg db doctor` lists invalid indexes), "
            "then run `eventreg db repair`"
            for f in history.failures(conn)
        ]
        missing = [row["name"] for v, row in applied.items() if v not in files]
        if missing:
            problems.append(f"applied migration(s) missing from {self.up_dir}: {', '.join(missing)} (restore them)")
        modified = [f.name for v, f in files.items() if v in applied and applied[v]["checksum"] != f.checksum()]
        if modified and not allow_modified:
            problems.append(
                f"applied migration(s) changed since they were applied: {', '.join(modified)} "
                "(restore them, or accept the change with `eventreg db repair`)"
            )
        if problems:
            raise DomainError("; ".join(problems) + "; nothing was run")

    # -- migrate ---------------------------------------------------------------------

    def plan(
        self,
        conn: Any,
        to: str | None = None,
        allow_modified: bool = False,
        allow_out_of_order: bool = False,
    ) -> list[SqlFile]:
        self.validate(conn, allow_modified)
        files = discover(self.up_dir)
        applied = history.applied(conn)
        pending = [f for f in files if f.version not in applied]
        if to is not None:
            target = version_number(to)
            if target not in {int(f.version) for f in files}:
                raise NotFound(f"no migration with version {to} in {self.up_dir}")
            pending = [f for f in pending if int(f.version) <= target]
        newest = max((int(v) for v in applied), default=0)
        if to is not None and not pending and version_number(to) < newest:
            raise DomainError(
                f"--to {to} is older than the newest applied migration ({newest:04d}): migrate only goes "
                f"forward (`eventreg db rollback --to {version_number(to)}` goes back); nothing was run"
            )
        late = [f.name for f in pending if int(f.version) < newest]
        if late and not allow_out_of_order:
            raise DomainError(
                f"pending migration older than the newest applied one: {', '.join(late)} "
                "(pass --allow-out-of-order to apply it anyway); nothing was run"
            )
        for file in pending:
            sqltext.check_runnable(file.name, file.text())
        return pending

    def migrate(
        self,
        to: str | None = None,
        dry_run: bool = False,
        allow_modified: bool = False,
        allow_out_of_order: bool = False,
    ) -> list[SqlFile]:
        with locked_session(self.url, "migrate", self.lock_timeout, self.table_lock_wait_ms) as conn:
            if not dry_run:
                require_owner(conn, "db migrate")
                self.check_log(conn)
                history.create(conn)
            pending = self.plan(conn, to, allow_modified, allow_out_of_order)
            if dry_run:
                for file in pending:
                    self.report("would-run", file, {"sql": file.text()})
                return pending
            applied = 0
            try:
                for file in pending:
                    self.report("running", file, {})
                    elapsed = run_file(conn, file, "migrate", self._failed(file))
                    applied += 1
                    self._log("migrate", file, elapsed)
                    self.report("applied", file, {"ms": elapsed})
            finally:
                if applied and not conn.broken:  # the files that did apply may have made tables
                    for role in regrant(conn):
                        self.report("regranted", None, {"role": role})
            return pending

    # -- rollback --------------------------------------------------------------------

    def rollback(
        self,
        steps: int | None = None,
        to: str | None = None,
        dry_run: bool = False,
        confirm: Callable[[RollbackPlan], bool] | None = None,
    ) -> list[SqlFile]:
        """Revert the newest applied files; `confirm` sees the plan first and may say no."""
        if steps is not None and to is not None:
            raise InvalidInput("give --steps or --to, not both")
        if steps is not None and steps < 1:
            raise InvalidInput("--steps must be 1 or more")
        target = version_number(to) if to is not None else None
        with locked_session(self.url, "rollback", self.lock_timeout, self.table_lock_wait_ms) as conn:
            if not dry_run:
                require_owner(conn, "db rollback")
                self.check_log(conn)
                history.create(conn)  # a database migrated by an older eventreg has no failures table yet
            dirty = history.failures(conn)
            if dirty:
                raise DomainError(
                    f"{dirty[0].describe()}; fix the database, then run `eventreg db repair`; nothing was rolled back"
                )
            plan = self._rollback_plan(conn, steps, target)
            if not plan.files:
                return []
            self.report("rollback-plan", None, {"plan": plan})
            if dry_run:
                for file in plan.files:
                    self.report("would-revert", file, {"sql": file.text()})
                return plan.files
            if confirm is not None and not confirm(plan):
                raise DomainError("nothing was rolled back")
            for file in plan.files:
                self.report("reverting", file, {})
                elapsed = run_file(conn, file, "rollback", self._failed(file))
                self._log("rollback", file, elapsed)
                self.report("reverted", file, {"ms": elapsed})
            return plan.files

    def _rollback_plan(self, conn: Any, steps: int | None, target: int | None) -> RollbackPlan:
        applied = sorted(history.applied(conn).values(), key=_by_version, reverse=True)
        if target is not None:
            if target != 0 and target not in {int(r["version"]) for r in applied}:
                raise NotFound(f"migration {target:04d} is not applied (give an applied version, or 0 for all)")
            rows = [r for r in applied if int(r["version"]) > target]
        else:
            wanted = steps or 1
            if steps is not None and steps > len(applied):
                raise DomainError(
                    f"--steps {steps} asks for more than the {len(applied)} applied migration(s); "
                    "nothing was rolled back (`--to 0` reverts them all)"
                )
            rows = applied[:wanted]
        downs = {f.version: f for f in discover(self.down_dir)} if self.down_dir.is_dir() else {}
        missing = [r["name"] for r in rows if r["version"] not in downs]
        if missing:
            raise DomainError(f"no down file for {', '.join(missing)} in {self.down_dir}; nothing was rolled back")
        files = [downs[r["version"]] for r in rows]
        for file in files:
            sqltext.check_runnable(file.name, file.text())
        return RollbackPlan(files, {f.name: losses(conn, f.text()) for f in files})

    # -- the local log -----------------------------------------------------------------

    def check_log(self, conn: Any) -> None:
        """Move a damaged log aside (and say so); the new log starts from what the database records.

        Without that baseline, `db doctor` would find every migration applied before the
        damage missing from the log, for good, with nothing to clear it."""
        moved = set_aside(self.log)
        if moved is None:
            return
        self.report("log-moved", None, {"path": moved[0], "reason": moved[1], "log": self.log})
        append_log(
            self.log,
            {
                "operation": "baseline",
                "reason": f"the damaged log was moved to {moved[0].name}; this is what schema_migrations recorded",
                "applied": {version: row["checksum"] for version, row in history.applied(conn).items()},
                "by": os_user(),
                "database": self.database,
                "env": self.env,
            },
        )

    def _log(self, operation: str, file: SqlFile, elapsed: int, **extra: Any) -> None:
        moved = append_log(self.log, self.log_entry(operation, file, elapsed, **extra))
        if moved is not None:
            self.report("log-moved", None, {"path": moved[0], "reason": moved[1], "log": self.log})

    def _failed(self, file: SqlFile) -> Callable[[str, int, int, str], None]:
        """What a no-transaction file that stopped halfway leaves in the local log."""

        def log(operation: str, elapsed: int, done: int, error: str) -> None:
            self._log(f"{operation}-failed", file, elapsed, statements_done=done, error=error)

        return log

    def log_entry(self, operation: str, file: SqlFile, elapsed: int | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "operation": operation,
            "version": file.version,
            "name": file.name,
            "checksum": file.checksum(),
            "execution_ms": elapsed,
            "by": os_user(),
            "database": self.database,
            "env": self.env,
            **extra,
        }
