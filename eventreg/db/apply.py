"""Running one migration file together with its history change.

A transactional file runs as one query inside a transaction that also writes (or
deletes) its `schema_migrations` row: both commit or neither does. A file marked
`-- eventreg:no-transaction` runs statement by statement with its progress in
`schema_migration_failures` (see migration_history.py), and says, when it stops,
exactly how far it got. Either way the error names the file, PostgreSQL's message
and the line PostgreSQL points at.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from eventreg.db import migration_history as history
from eventreg.db import sqltext
from eventreg.db.connection import between_statements, first_line, reset_session, runner_path
from eventreg.db.files import SqlFile, line_at
from eventreg.db.lock import still_held
from eventreg.errors import DomainError, Unavailable

# (operation, elapsed ms, statements done, error): how a stopped no-transaction file is logged
LogFailure = Callable[[str, int, int, str], None]


class MigrationFailed(DomainError):
    pass


def run_file(conn: Any, file: SqlFile, operation: str, log_failure: LogFailure) -> int:
    """Run one file with its history change; both commit or neither does (see the module doc)."""
    started = time.perf_counter()
    if file.no_transaction:
        return _run_statements(conn, file, operation, started, log_failure)
    sql = file.text()
    try:
        with conn.transaction():
            conn.execute(sql)
            reset_session(conn)
            _require_lock(conn, file, "it was rolled back, nothing of it is applied")
            elapsed = _ms(started)
            _record(conn, file, operation, elapsed)
    except psycopg.Error as exc:
        if conn.broken:
            raise Unavailable(
                f"lost the database connection during {file.name}: it was rolled back unless its commit had "
                f"reached the server; `eventreg db status` shows which ({first_line(exc)})"
            ) from exc
        line = _line(sql, exc)
        where = f" at line {line}" if line else ""
        raise MigrationFailed(
            f"{file.name} failed{where}: {_message(exc)}; it was rolled back, nothing of it is applied"
        ) from exc
    return elapsed


def _run_statements(conn: Any, file: SqlFile, operation: str, started: float, log_failure: LogFailure) -> int:
    """A no-transaction file: each statement on its own, progress recorded as it goes."""
    statements = sqltext.statements(file.text())
    path = runner_path(conn)
    with between_statements(conn, path):
        history.mark_running(conn, file, operation, len(statements))
    # No lock timeout here: CREATE INDEX CONCURRENTLY waits for older snapshots by design, and
    # stopped halfway it would leave an invalid index; reset_session restores the timeout.
    conn.execute("SET lock_timeout = 0")
    for number, statement in enumerate(statements, start=1):
        try:
            conn.execute(statement.text)
        except psycopg.Error as exc:
            line = _line(statement.text, exc, statement.line) or statement.line
            message = _message(exc)
            try:
                with between_statements(conn, path):
                    history.mark_failed(conn, file.version, line, message)
            except psycopg.Error:
                pass  # the connection is gone: the entry stays, marked as interrupted
            log_failure(operation, _ms(started), number - 1, message)
            raise MigrationFailed(
                f"{file.name} failed at line {line} (statement {number} of {len(statements)}): {message}. "
                f"It runs outside a transaction, so nothing was rolled back: {number - 1} statement(s) before "
                "it stay applied. Fix the database by hand (`eventreg db doctor` lists invalid indexes), "
                "then run `eventreg db repair`; migrate and rollback refuse until then"
            ) from exc
        with between_statements(conn, path):
            history.mark_progress(conn, file.version, number)
    elapsed = _ms(started)
    with conn.transaction():
        reset_session(conn)
        _require_lock(conn, file, "its statements ran and stay applied, but it is not recorded as applied")
        _record(conn, file, operation, elapsed)
        history.clear_failure(conn, file.version)
    return elapsed


def _require_lock(conn: Any, file: SqlFile, outcome: str) -> None:
    if not still_held(conn):
        raise MigrationFailed(
            f"{file.name} released the migration lock (pg_advisory_unlock...), so another run could start beside "
            f"this one; {outcome}. Take the unlock out of the file, then run again"
        )


def _record(conn: Any, file: SqlFile, operation: str, elapsed: int) -> None:
    if operation == "migrate":
        history.record_applied(conn, file, elapsed)
    else:
        history.record_reverted(conn, file.version)


def _message(exc: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag else None) or first_line(exc)
    detail = diag.message_detail if diag else None
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        detail = (
            "another session held a lock on what it changes for longer than EVENTREG_TABLE_LOCK_WAIT_MS; "
            "run it again when that session is done"
        )
    return f"{primary} ({detail})" if detail else primary


def _line(sql: str, exc: Any, first: int = 1) -> int | None:
    """The file line PostgreSQL's error position points at, when it gives one."""
    diag = getattr(exc, "diag", None)
    position = diag.statement_position if diag else None
    if not position or not str(position).isdigit():
        return None
    return first + line_at(sql, int(position)) - 1


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
