"""One session-level advisory lock serialises every schema and seed change.

The lock is held by the very connection that does the work. If the process is
killed, its backend goes on running the statement it was given and keeps the lock
until that statement ends and the server notices the client is gone, so a second
run cannot start while the first one's work is still executing on the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from eventreg.db.connection import connect
from eventreg.errors import DomainError

LOCK_CLASS = 1702258030  # "even" in ASCII
LOCK_OBJECT = 1
POLL_S = 0.1


@contextmanager
def locked_session(url: str, operation: str, timeout: float, table_lock_wait_ms: int | None = None) -> Iterator[Any]:
    """An autocommit connection that holds the tooling lock for as long as it is open. Its
    statements wait at most `table_lock_wait_ms` for a table lock (lock_timeout; None: as
    long as it takes): a migration queued behind a long read would stop every command that
    touches the table behind it, so it gives up instead."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    conn = connect(
        url, autocommit=True, application_name=f"eventreg {operation} since {since}", lock_timeout_ms=table_lock_wait_ms
    )
    try:
        deadline = time.monotonic() + max(timeout, 0)
        while not _try_lock(conn):
            if time.monotonic() >= deadline:
                raise DomainError(_holder_message(conn, timeout))
            time.sleep(POLL_S)
        yield conn
    finally:
        conn.close()  # ends the session, which releases the lock


def still_held(conn: Any) -> bool:
    """Whether this session still holds the tooling lock: a file can release it
    (pg_advisory_unlock_all) and let a second run start beside this one."""
    row = conn.execute(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        " AND classid = %s AND objid = %s AND objsubid = 2",
        (LOCK_CLASS, LOCK_OBJECT),
    ).fetchone()
    return bool(row and row["n"])


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS got", (LOCK_CLASS, LOCK_OBJECT)).fetchone()
    return bool(row and row["got"])


def holder(conn: Any) -> dict[str, Any] | None:
    """The session holding the tooling lock, if any: pid, application_name, backend_start, state, query,
    and operation: what eventreg run holds it ("migrate", "rollback", "repair", "seed", "seed undo"),
    read from the application_name `locked_session` gives it; None for a session that is not one."""
    row = conn.execute(
        """
        SELECT a.pid, a.application_name, a.backend_start, a.state, left(a.query, 200) AS query,
               substring(a.application_name FROM '^eventreg (.+) since [^ ]+$') AS operation
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
               SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
           AND a.pid <> pg_backend_pid()
        """,
        (LOCK_CLASS, LOCK_OBJECT),
    ).fetchone()
    return dict(row) if row else None


def _holder_message(conn: Any, timeout: float) -> str:
    found = holder(conn)
    if found is None:
        return f"could not take the migration lock within {timeout:g}s"
    label = found["application_name"] or "another session"
    return (
        f"another run holds the migration lock (pid {found['pid']}, {label}, "
        f"connected since {found['backend_start'].isoformat(timespec='seconds')}, {found['state']}); "
        f"gave up after {timeout:g}s"
    )
