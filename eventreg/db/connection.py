"""Opening connections: one per command, retried while the server is busy, failures in one line.

Every session runs in UTC (times are shown in the local zone by the commands) with
the configured statement timeout, so a lock wait ends with an error, not a hang.
A server that refuses a connection because all its slots are taken ("too many
clients") or because it is starting up is retried with jittered backoff for
EVENTREG_CONNECT_WAIT_S seconds, so a burst of commands queues instead of failing.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from eventreg.errors import Unavailable
from eventreg.redact import mask_url, passwords_in, redact

APPLICATION_NAME = "eventreg"
BUSY_MARKERS = ("too many clients", "too many connections", "remaining connection slots", "is starting up")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_busy(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate in ("53300", "57P03") or any(marker in str(exc) for marker in BUSY_MARKERS)


def session_options(statement_timeout_ms: int | None, lock_timeout_ms: int | None = None) -> str:
    """How every eventreg session starts (sent with the connection, no extra round trip, and
    what RESET ALL returns to): times in UTC, and a statement timeout so a lock wait ends with
    an error, not a hang; the db runners, which have no statement timeout, a lock timeout."""
    options = "-c TimeZone=UTC -c standard_conforming_strings=on"  # how the db runners read files (sqltext)
    if statement_timeout_ms:
        options += f" -c statement_timeout={int(statement_timeout_ms)}"
    if lock_timeout_ms:
        options += f" -c lock_timeout={int(lock_timeout_ms)}"
    return options


def connect(
    url: str,
    *,
    autocommit: bool = False,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    application_name: str = APPLICATION_NAME,
    wait_s: float = 10.0,
    row_factory: Any = None,
) -> psycopg.Connection[Any]:
    """A connection (in a transaction unless `autocommit`); Unavailable when it cannot be had."""

    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            return psycopg.connect(
                url,
                autocommit=autocommit,
                row_factory=row_factory or dict_row,
                application_name=application_name,
                connect_timeout=10,
                options=session_options(statement_timeout_ms, lock_timeout_ms),
            )
        except psycopg.OperationalError as exc:
            if is_busy(exc) and time.monotonic() + delay < deadline:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            message = redact(first_line(exc), passwords_in(url))
            raise Unavailable(f"cannot connect to {mask_url(url)}: {message}") from None
        except psycopg.ProgrammingError:
            # libpq quotes the faulty part of a malformed string, which may be the password
            raise Unavailable(
                f"the database URL is malformed: {mask_url(url)} (percent-encode special characters in the password)"
            ) from None


def reset_session(conn: Any, *, drop_temp: bool = True) -> None:
    """Undo what a migration or seed file set for the session (search_path, role,
    session_replication_role...) and, with `drop_temp`, the temporary tables it made, so it
    cannot change where the next file's tables land or what the runner's own history rows
    do; for the rest of the transaction, temporary tables come last in the search path, so
    none can stand in for a history table. Inside the file's transaction, it commits with it.
    Not DISCARD ALL: that would also let go of the runner's advisory lock."""
    conn.execute("RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL")
    if drop_temp:
        conn.execute("DISCARD TEMP")
    conn.execute(RUNNER_PATH, (conn.execute("SHOW search_path").fetchone()["search_path"] + ", pg_temp",))


RUNNER_PATH = "SELECT set_config('search_path', %s, true)"


@contextmanager
def between_statements(conn: Any, path: str) -> Iterator[None]:
    """The runner's own writes between the statements of a no-transaction file: in a
    transaction of their own, on the search path the session started with (`path`, temporary
    tables last) and its own role, whatever the file has set for its later statements."""
    with conn.transaction():
        conn.execute("SET LOCAL ROLE NONE")
        conn.execute(RUNNER_PATH, (path,))
        yield


def runner_path(conn: Any) -> str:
    """The session's search path, temporary tables last: for between_statements."""
    return str(conn.execute("SHOW search_path").fetchone()["search_path"]) + ", pg_temp"


# What libpq takes from the environment for a part the connection string leaves out.
_LIBPQ_ENVIRONMENT = {"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER"}


def target(url: str) -> dict[str, str] | None:
    """Where a connection string leads, as libpq resolves it (the string, then PGHOST, PGPORT,
    PGDATABASE and PGUSER): host, port, dbname and user (possibly empty); None if unreadable."""
    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return None
    found = {key: str(parts.get(key) or os.environ.get(env) or "") for key, env in _LIBPQ_ENVIRONMENT.items()}
    found["host"] = found["host"].split(",")[0]
    found["dbname"] = found["dbname"] or found["user"] or "?"
    return found


def where(parts: dict[str, str]) -> str:
    host, port = parts["host"], parts["port"] or "5432"
    if not host:
        return f"the default socket, port {port}"
    return f"socket {host}:{port}" if host.startswith("/") else f"host {host}:{port}"


def describe(url: str) -> str:
    """A database in words, never with its password: `database eventreg on host db:5432 as app`."""
    parts = target(url)
    if parts is None:
        return mask_url(url)
    user = f" as {parts['user']}" if parts["user"] else ""
    return f"database {parts['dbname']} on {where(parts)}{user}"
