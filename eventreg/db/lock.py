"""One session-level advisory lock serialises every schema and seed change.

It is taken on a connection of its own, so it outlives each file's transaction,
and PostgreSQL releases it when that connection ends, even if the process is killed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from eventreg.db.connection import connect
from eventreg.errors import DomainError

LOCK_CLASS = 1702258030  # "even" in ASCII
LOCK_OBJECT = 1


@contextmanager
def tooling_lock(url: str, operation: str, timeout: float) -> Iterator[None]:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    conn = connect(url, application_name=f"eventreg {operation} since {since}")
    try:
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS got", (LOCK_CLASS, LOCK_OBJECT)).fetchone()
            if row and row["got"]:
                break
            if time.monotonic() >= deadline:
                raise DomainError(_holder_message(conn, timeout))
            time.sleep(0.1)
        yield
    finally:
        conn.close()  # ends the session, which releases the lock


def _holder_message(conn, timeout: float) -> str:  # type: ignore[no-untyped-def]
    holder = conn.execute(
        """
        SELECT a.pid, a.application_name, a.backend_start
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted
           AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
        """,
        (LOCK_CLASS, LOCK_OBJECT),
    ).fetchone()
    if holder is None:
        return f"could not take the migration lock within {timeout:g}s"
    label = holder["application_name"] or "another session"
    return (
        f"another run holds the migration lock (pid {holder['pid']}, {label}, "
        f"connected since {holder['backend_start'].isoformat(timespec='seconds')}); "
        f"gave up after {timeout:g}s"
    )
