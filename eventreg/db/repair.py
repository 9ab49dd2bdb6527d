"""`db repair`: accept on purpose what validation refuses, after the operator has looked.

Two things, each listed before it is done, as Flyway's repair does:
- an applied file that was changed on purpose gets its stored checksum re-baselined;
- a no-transaction file that stopped halfway has its failed entry cleared, once
  the operator has fixed the database by hand. The next `migrate` then runs that
  file again from its first statement (such files are written to be re-run), or
  the next `rollback` runs its down file again. While an invalid index is left (a
  failed CREATE INDEX CONCURRENTLY), repair refuses: `IF NOT EXISTS` would skip it
  and record the file as applied with the broken index in place.
Missing files are not repaired: restore them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventreg.db import migration_history as history
from eventreg.db.doctor import invalid_indexes
from eventreg.db.files import discover, os_user, version_number
from eventreg.db.history_log import append_log
from eventreg.db.lock import locked_session
from eventreg.db.migrations import MigrationRunner
from eventreg.db.privileges import require_owner
from eventreg.errors import DomainError, NotFound


@dataclass(frozen=True)
class Rebaseline:
    version: str
    name: str
    recorded: str
    current: str


@dataclass
class RepairPlan:
    checksums: list[Rebaseline] = field(default_factory=list)
    failures: list[history.Failure] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # reported, never repaired

    @property
    def empty(self) -> bool:
        return not self.checksums and not self.failures


# Advice, not a statement eventreg runs (kept out of formatted strings, which the SQL source check reads).
FIX_INDEXES = "drop them (DROP INDEX CONCURRENTLY ...) or rebuild them (REINDEX INDEX CONCURRENTLY ...) first"


def repair(
    runner: MigrationRunner,
    versions: list[str] | None = None,
    dry_run: bool = False,
    confirm: Callable[[RepairPlan], bool] | None = None,
) -> RepairPlan:
    """Re-baseline changed files and clear failed entries (only `versions`, if given)."""
    with locked_session(runner.url, "repair", runner.lock_timeout, runner.table_lock_wait_ms) as conn:
        if not dry_run:
            require_owner(conn, "db repair")
            runner.check_log(conn)
        plan = _plan(conn, runner, versions)
        runner.report("repair-plan", None, {"plan": plan})
        if plan.failures:
            broken = invalid_indexes(conn)
            if broken:
                raise DomainError(
                    f"invalid index(es) left behind: {', '.join(broken)}; {FIX_INDEXES}; nothing was repaired"
                )
        if plan.empty or dry_run:
            return plan
        if confirm is not None and not confirm(plan):
            raise DomainError("nothing was repaired")
        with conn.transaction():
            for item in plan.checksums:
                history.set_checksum(conn, item.version, item.current)
            for failure in plan.failures:
                history.clear_failure(conn, failure.version)
        for item in plan.checksums:
            _log(runner, item.version, item.name, "checksum", checksum=item.current, old_checksum=item.recorded)
        for failure in plan.failures:
            _log(runner, failure.version, failure.name, "cleared-failure", failure=failure.describe())
        return plan


def _plan(conn: Any, runner: MigrationRunner, versions: list[str] | None) -> RepairPlan:
    wanted = {version_number(v, "VERSION") for v in versions} if versions else None
    files = {f.version: f for f in discover(runner.up_dir)}
    applied = history.applied(conn)
    plan = RepairPlan()
    for version, row in applied.items():
        if wanted is not None and int(version) not in wanted:
            continue
        file = files.get(version)
        if file is None:
            plan.missing.append(row["name"])
        elif file.checksum() != row["checksum"]:
            plan.checksums.append(Rebaseline(version, file.name, row["checksum"], file.checksum()))
    plan.failures = [f for f in history.failures(conn) if wanted is None or int(f.version) in wanted]
    if wanted is not None and plan.empty and not plan.missing:
        names = ", ".join(f"{v:04d}" for v in sorted(wanted))
        raise NotFound(f"nothing to repair for {names}: not changed, not failed")
    return plan


def _log(runner: MigrationRunner, version: str, name: str, action: str, **extra: Any) -> None:
    entry = {
        "operation": "repair",
        "action": action,
        "version": version,
        "name": name,
        "by": os_user(),
        "database": runner.database,
        "env": runner.env,
        **extra,
    }
    moved = append_log(runner.log, entry)
    if moved is not None:
        runner.report("log-moved", None, {"path": moved[0], "reason": moved[1], "log": runner.log})
