"""The database's own record of migrations: `schema_migrations` and `schema_migration_failures`.

`schema_migrations` holds one row per applied file, written in the same transaction
as the file. A file marked `-- eventreg:no-transaction` cannot roll back, so before
its first statement a row in `schema_migration_failures` says it is running; each
statement that completes moves its count on; success removes the row in the
transaction that records the file as applied. Whatever stops such a file halfway
(an error, a killed process, a lost connection) leaves that row behind: a dirty
state that `db status` and `db doctor` show, and that `migrate` and `rollback`
refuse to go past until the operator has fixed the database and run `db repair`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventreg.db.files import SqlFile, os_user

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version      text PRIMARY KEY,
    name         text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    applied_by   text NOT NULL,
    execution_ms integer NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_migration_failures (
    version         text PRIMARY KEY,
    name            text NOT NULL,
    operation       text NOT NULL CHECK (operation IN ('migrate', 'rollback')),
    checksum        text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    started_by      text NOT NULL,
    statements      integer NOT NULL,
    statements_done integer NOT NULL DEFAULT 0,
    failed_line     integer,
    failed_at       timestamptz,  -- NULL: the run stopped without saying why (killed, connection lost)
    error           text
);
"""


@dataclass(frozen=True)
class Failure:
    version: str
    name: str
    operation: str
    statements: int
    statements_done: int
    failed_line: int | None
    failed_at: datetime | None
    error: str | None

    def describe(self, running_as: int | None = None) -> str:
        """What happened, in one line: how far the file got and what stopped it.

        `running_as`: the pid of the session that holds the migration lock, when the
        file is still being run (its client may be gone; the server goes on)."""
        verb = "migrate" if self.operation == "migrate" else "rollback"
        ran = f"{self.statements_done} of {self.statements} statement(s) ran"
        if running_as is not None:
            return (
                f"{self.name}: {verb} still running on the server (pid {running_as}, holding the migration lock; "
                f"{self.statements_done} of {self.statements} statement(s) done)"
            )
        if self.failed_at is None:
            return f"{self.name}: {verb} was interrupted ({ran}; statement {self.statements_done + 1} may have run)"
        where = f" at line {self.failed_line}" if self.failed_line else ""
        return f"{self.name}: {verb} failed{where} ({ran}, nothing was rolled back): {self.error}"


def exists(conn: Any, table: str = "schema_migrations") -> bool:
    return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (table,)).fetchone()["ok"])


def create(conn: Any) -> None:
    conn.execute(HISTORY_DDL)


def applied(conn: Any) -> dict[str, dict[str, Any]]:
    """version -> its schema_migrations row; empty before the first migration."""
    if not exists(conn):
        return {}
    rows = conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
    return {row["version"]: row for row in rows}


def failures(conn: Any) -> list[Failure]:
    if not exists(conn, "schema_migration_failures"):
        return []
    rows = conn.execute(
        "SELECT version, name, operation, statements, statements_done, failed_line, failed_at, error"
        " FROM schema_migration_failures ORDER BY version"
    ).fetchall()
    return [Failure(**row) for row in rows]


def record_applied(conn: Any, file: SqlFile, elapsed_ms: int) -> None:
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_by, execution_ms) VALUES (%s, %s, %s, %s, %s)",
        (file.version, file.name, file.checksum(), os_user(), elapsed_ms),
    )


def record_reverted(conn: Any, version: str) -> None:
    conn.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))


def mark_running(conn: Any, file: SqlFile, operation: str, statements: int) -> None:
    """Committed before a no-transaction file's first statement runs."""
    conn.execute(
        "INSERT INTO schema_migration_failures (version, name, operation, checksum, started_by, statements)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (file.version, file.name, operation, file.checksum(), os_user(), statements),
    )


def mark_progress(conn: Any, version: str, done: int) -> None:
    conn.execute("UPDATE schema_migration_failures SET statements_done = %s WHERE version = %s", (done, version))


def mark_failed(conn: Any, version: str, line: int | None, error: str) -> None:
    conn.execute(
        "UPDATE schema_migration_failures SET failed_at = clock_timestamp(), failed_line = %s, error = %s"
        " WHERE version = %s",
        (line, error, version),
    )


def clear_failure(conn: Any, version: str) -> None:
    conn.execute("DELETE FROM schema_migration_failures WHERE version = %s", (version,))


def set_checksum(conn: Any, version: str, checksum: str) -> None:
    conn.execute("UPDATE schema_migrations SET checksum = %s WHERE version = %s", (checksum, version))
