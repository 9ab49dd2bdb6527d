"""The audit log: every change, with who made it, when and why. Only this module writes it.

Entries are written in the transaction of the change itself, so a change and its
entry commit together or not at all; `at` is clock_timestamp(), read after the
lock that ordered the change was granted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from eventreg import text
from eventreg.views import HistoryEntry

MAX_REASON = 500


def clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return text.line(reason, "reason", MAX_REASON, required=False, collapse=True) or None


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
    conn.execute(
        "INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id, reason, details)"
        " VALUES (clock_timestamp(), %s, %s, %s, %s, %s, %s)",
        (action, actor_id, event_id, subject_user_id, reason, Jsonb(details or {})),
    )


def record_each(
    conn: Any, action: str, actor_id: int | None, event_id: int, subject_user_ids: Sequence[int], reason: str | None
) -> None:
    """One entry per person, in one statement, in the order given."""
    if subject_user_ids:
        conn.execute(
            "INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id, reason)"
            " SELECT clock_timestamp(), %s, %s, %s, s.id, %s FROM unnest(%s::bigint[]) WITH ORDINALITY AS s (id, n)"
            " ORDER BY s.n",
            (action, actor_id, event_id, reason, list(subject_user_ids)),
        )


def history_query(event_id: int, after_id: int, limit: int | None) -> tuple[sql.Composed, dict[str, Any]]:
    """An event's entries in the order they were written (HistoryEntry columns)."""
    query = sql.SQL(
        """
        SELECT a.id, a.at, a.action, actor.email AS actor, subject.email AS subject, a.reason, a.details
          FROM audit_log a
          LEFT JOIN users actor ON actor.id = a.actor_id
          LEFT JOIN users subject ON subject.id = a.subject_user_id
         WHERE a.event_id = %(event)s AND a.id > %(after)s
         ORDER BY a.id {limited}
        """
    ).format(limited=sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""))
    return query, {"event": event_id, "after": after_id, "limit": limit}


def history(conn: Any, event_id: int, after_id: int, limit: int) -> list[HistoryEntry]:
    query, params = history_query(event_id, after_id, limit)
    with conn.cursor(row_factory=class_row(HistoryEntry)) as cur:
        return cur.execute(query, params).fetchall()
