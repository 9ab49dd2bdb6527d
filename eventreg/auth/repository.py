"""SQL for `sessions`, `auth_throttle` and `password_resets`: the only module that writes them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

Conn = Any


def insert_session(conn: Conn, jti: str, user_id: int, expires_at: datetime, password_hash: str) -> bool:
    """A session for a user whose password is still the one just checked and who is still
    active; False when either changed meanwhile (bcrypt takes a while).

    FOR SHARE holds the user row until this transaction ends, so a password change,
    reset or deactivation either comes first (this statement then waits for it and finds
    the row changed) or waits for this session to exist, and its revoke_all, a later
    statement, ends it."""
    cur = conn.execute(
        "INSERT INTO sessions (jti, user_id, expires_at)"
        " SELECT %s, u.id, %s FROM users u WHERE u.id = %s AND u.password_hash = %s AND u.is_active FOR SHARE",
        (jti, expires_at, user_id, password_hash),
    )
    return bool(cur.rowcount)


def session_with_user(conn: Conn, jti: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(
        "SELECT s.user_id, s.expires_at, s.revoked_at, u.email, u.name, u.role, u.is_active"
        " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.jti = %s",
        (jti,),
    ).fetchone()
    return row


def revoke_session(conn: Conn, jti: str) -> int:
    cur = conn.execute(
        "UPDATE sessions SET revoked_at = clock_timestamp() WHERE jti = %s AND revoked_at IS NULL", (jti,)
    )
    return int(cur.rowcount)


def revoke_all(conn: Conn, user_id: int, keep_jti: str | None = None) -> int:
    """End every live session of a user, except `keep_jti`; returns how many ended.

    First the user row is locked (FOR UPDATE; a no-op when the caller changed it already):
    a sign-in that is inserting its session holds the row FOR SHARE, so this waits for that
    session to be committed, and the UPDATE, a later statement with a later snapshot, sees it."""
    conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,))
    cur = conn.execute(
        "UPDATE sessions SET revoked_at = clock_timestamp()"
        " WHERE user_id = %s AND revoked_at IS NULL AND expires_at > clock_timestamp()"
        " AND jti IS DISTINCT FROM %s::uuid",
        (user_id, keep_jti),
    )
    return int(cur.rowcount)


def count_attempt(conn: Conn, path: str, subject: str, window: timedelta) -> tuple[int, datetime]:
    """Count one attempt and return (attempts in the current window, when the window ends).

    One statement: the insert or the update of the (path, subject) row takes that
    row's lock, so attempts sent in parallel are counted one after another and the
    count each sees is exact. A window that has run out starts again at 1.
    """
    row = conn.execute(
        """
        INSERT INTO auth_throttle AS t (path, subject, attempts, window_started_at)
        VALUES (%(path)s, %(subject)s, 1, clock_timestamp())
        ON CONFLICT (path, subject) DO UPDATE
           SET attempts = CASE WHEN t.window_started_at + %(window)s <= clock_timestamp() THEN 1
                               ELSE t.attempts + 1 END,
               window_started_at = CASE WHEN t.window_started_at + %(window)s <= clock_timestamp()
                                        THEN clock_timestamp() ELSE t.window_started_at END
        RETURNING attempts, window_started_at + %(window)s AS window_ends_at
        """,
        {"path": path, "subject": subject, "window": window},
    ).fetchone()
    return int(row["attempts"]), row["window_ends_at"]


def refund_attempt(conn: Conn, path: str, subject: str) -> None:
    """Take one attempt back (a success), in the same row-locking way it was counted."""
    conn.execute(
        "UPDATE auth_throttle SET attempts = greatest(attempts - 1, 0) WHERE path = %s AND subject = %s",
        (path, subject),
    )


def clear_attempts(conn: Conn, subject: str, paths: tuple[str, ...]) -> None:
    conn.execute("DELETE FROM auth_throttle WHERE subject = %s AND path = ANY(%s)", (subject, list(paths)))


def blocked_until(conn: Conn, subject: str, limit: int, window: timedelta) -> datetime | None:
    """When the latest block on any sign-in path of this subject ends, or None."""
    row = conn.execute(
        "SELECT max(window_started_at + %(window)s) AS until FROM auth_throttle"
        " WHERE subject = %(subject)s AND path NOT IN ('client', 'signup') AND attempts >= %(limit)s"
        " AND window_started_at + %(window)s > clock_timestamp()",
        {"subject": subject, "limit": limit, "window": window},
    ).fetchone()
    until: datetime | None = row["until"]
    return until


def forget_old_attempts(conn: Conn, window: timedelta, batch: int = 20) -> None:
    """Drop a few rows whose window ended a day ago: each attempt tidies a little, so rows
    for addresses nobody uses (typos, guesses) cannot pile up; bounded work per call."""
    conn.execute(
        "DELETE FROM auth_throttle WHERE ctid = ANY(ARRAY("
        " SELECT ctid FROM auth_throttle WHERE window_started_at < clock_timestamp() - %s - interval '1 day'"
        " ORDER BY window_started_at LIMIT %s))",
        (window, batch),
    )


def put_reset_code(conn: Conn, user_id: int, code_hash: str, created_by: int, hours: int) -> datetime:
    row = conn.execute(
        """
        INSERT INTO password_resets (user_id, code_hash, created_by, expires_at)
        VALUES (%s, %s, %s, clock_timestamp() + make_interval(hours => %s))
        ON CONFLICT (user_id) DO UPDATE
           SET code_hash = EXCLUDED.code_hash, created_by = EXCLUDED.created_by,
               created_at = clock_timestamp(), expires_at = EXCLUDED.expires_at
        RETURNING expires_at
        """,
        (user_id, code_hash, created_by, hours),
    ).fetchone()
    expires: datetime = row["expires_at"]
    return expires


def live_reset_code(conn: Conn, user_id: int) -> str | None:
    """The hash of the user's unexpired code, locked until the transaction ends (it works once)."""
    row = conn.execute(
        "SELECT code_hash FROM password_resets WHERE user_id = %s AND expires_at > clock_timestamp() FOR UPDATE",
        (user_id,),
    ).fetchone()
    return row["code_hash"] if row else None


def drop_reset_code(conn: Conn, user_id: int) -> None:
    conn.execute("DELETE FROM password_resets WHERE user_id = %s", (user_id,))
