"""The audit log: every state change with actor, time and reason."""

from __future__ import annotations

from typing import Any

from eventreg.errors import InvalidInput


def record(
    conn: Any,
    action: str,
    actor_id: int | None,
    *,
    event_id: int | None = None,
    subject_user_id: int | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction."""
    from psycopg.types.json import Jsonb

    reason = clean_reason(reason)
    conn.execute(
        "INSERT INTO audit_log (action, actor_id, event_id, subject_user_id, reason, details)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (action, actor_id, event_id, subject_user_id, reason, Jsonb(details or {})),
    )


MAX_REASON = 500


def clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = " ".join(reason.split())
    if "\x00" in reason or len(reason) > MAX_REASON:
        raise InvalidInput(f"a reason may be at most {MAX_REASON} characters, without NUL")
    return reason or None


def history(conn: Any, event_id: int, limit: int = 500) -> list[dict[str, Any]]:
    return conn.execute(
        """
        SELECT a.id, a.at, a.action, a.reason, a.details,
               actor.email AS actor, subject.email AS subject
          FROM audit_log a
          LEFT JOIN users actor ON actor.id = a.actor_id
          LEFT JOIN users subject ON subject.id = a.subject_user_id
         WHERE a.event_id = %s
         ORDER BY a.id
         LIMIT %s
        """,
        (event_id, limit),
    ).fetchall()
