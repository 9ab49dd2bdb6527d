"""SQL for sessions and failed sign-in attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

Conn = Any


def insert_session(conn: Conn, jti: str, user_id: int, expires_at: datetime) -> None:
    conn.execute("INSERT INTO sessions (jti, user_id, expires_at) VALUES (%s, %s, %s)", (jti, user_id, expires_at))


def session_with_user(conn: Conn, jti: str) -> dict[str, Any] | None:
    return conn.execute(
        """
        SELECT s.jti, s.user_id, s.expires_at, s.revoked_at,
               u.email, u.name, u.role, u.is_active
          FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.jti = %s
        """,
        (jti,),
    ).fetchone()


def revoke_session(conn: Conn, jti: str) -> None:
    conn.execute("UPDATE sessions SET revoked_at = now() WHERE jti = %s AND revoked_at IS NULL", (jti,))


def revoke_all(conn: Conn, user_id: int, keep_jti: str | None = None) -> int:
    cur = conn.execute(
        "UPDATE sessions SET revoked_at = now()"
        " WHERE user_id = %s AND revoked_at IS NULL AND jti IS DISTINCT FROM %s::uuid",
        (user_id, keep_jti),
    )
    return cur.rowcount


def record_failure(conn: Conn, user_id: int, kind: str) -> int:
    """Record a failure; returns the failures in the last 15 minutes."""
    conn.execute("INSERT INTO auth_failures (user_id, kind) VALUES (%s, %s)", (user_id, kind))
    row = conn.execute(
        "SELECT count(*) AS n FROM auth_failures WHERE user_id = %s AND at > now() - interval '15 minutes'",
        (user_id,),
    ).fetchone()
    return int(row["n"])


def lock_user(conn: Conn, user_id: int, minutes: int) -> None:
    conn.execute(
        "UPDATE users SET locked_until = now() + make_interval(mins => %s) WHERE id = %s",
        (minutes, user_id),
    )


def clear_failures(conn: Conn, user_id: int) -> None:
    conn.execute("DELETE FROM auth_failures WHERE user_id = %s", (user_id,))
    conn.execute("UPDATE users SET locked_until = NULL WHERE id = %s", (user_id,))


def is_locked(conn: Conn, user_id: int) -> datetime | None:
    row = conn.execute("SELECT locked_until FROM users WHERE id = %s AND locked_until > now()", (user_id,)).fetchone()
    return row["locked_until"] if row else None


def put_reset_code(conn: Conn, user_id: int, code_hash: str, created_by: int, hours: int) -> datetime:
    row = conn.execute(
        """
        INSERT INTO password_resets (user_id, code_hash, created_by, expires_at)
        VALUES (%s, %s, %s, now() + make_interval(hours => %s))
        ON CONFLICT (user_id) DO UPDATE
           SET code_hash = EXCLUDED.code_hash, created_by = EXCLUDED.created_by,
               created_at = now(), expires_at = EXCLUDED.expires_at
        RETURNING expires_at
        """,
        (user_id, code_hash, created_by, hours),
    ).fetchone()
    return row["expires_at"]


def take_reset_code(conn: Conn, user_id: int) -> str | None:
    """The live code's hash, locked for this transaction."""
    row = conn.execute(
        "SELECT code_hash FROM password_resets WHERE user_id = %s AND expires_at > now() FOR UPDATE", (user_id,)
    ).fetchone()
    return row["code_hash"] if row else None


def drop_reset_code(conn: Conn, user_id: int) -> None:
    conn.execute("DELETE FROM password_resets WHERE user_id = %s", (user_id,))
