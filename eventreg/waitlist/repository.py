"""SQL for waitlist places: rows of `registrations` with status 'waitlisted'.

Order is (waitlist_rank, id): the rank comes from waitlist_rank_seq on joining and
is never renumbered; positions are computed with row_number() when shown.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

Conn = Any


def insert(conn: Conn, event_id: int, user_id: int) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO registrations (event_id, user_id, status, waitlist_rank)"
        " VALUES (%s, %s, 'waitlisted', nextval('waitlist_rank_seq')) RETURNING id, waitlist_rank",
        (event_id, user_id),
    ).fetchone()


def position(conn: Conn, event_id: int, rank: Decimal, registration_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM registrations WHERE event_id = %s AND status = 'waitlisted'"
        " AND (waitlist_rank, id) <= (%s, %s)",
        (event_id, rank, registration_id),
    ).fetchone()
    return int(row["n"])


def length(conn: Conn, event_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM registrations WHERE event_id = %s AND status = 'waitlisted'", (event_id,)
    ).fetchone()
    return int(row["n"])


def promote_head(conn: Conn, event_id: int, count: int) -> list[dict[str, Any]]:
    """Give seats to the first `count` people in order. One probe of the partial index
    registrations_waitlist_order per person, so the cost does not grow with the list."""
    return conn.execute(
        """
        WITH head AS (
            SELECT id FROM registrations
             WHERE event_id = %s AND status = 'waitlisted'
             ORDER BY waitlist_rank, id
             LIMIT %s
        )
        UPDATE registrations r
           SET status = 'registered', registered_at = now(), waitlist_rank = NULL, updated_at = now()
          FROM head WHERE r.id = head.id
        RETURNING r.id, r.user_id
        """,
        (event_id, count),
    ).fetchall()


def promote_one(conn: Conn, registration_id: int) -> None:
    conn.execute(
        "UPDATE registrations SET status = 'registered', registered_at = now(), waitlist_rank = NULL,"
        " updated_at = now() WHERE id = %s",
        (registration_id,),
    )


def entries(conn: Conn, event_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        """
        SELECT row_number() OVER (ORDER BY r.waitlist_rank, r.id) AS position,
               r.id, r.user_id, u.email, u.name, r.created_at AS joined_at, r.waitlist_rank
          FROM registrations r JOIN users u ON u.id = r.user_id
         WHERE r.event_id = %s AND r.status = 'waitlisted'
         ORDER BY r.waitlist_rank, r.id
        """,
        (event_id,),
    ).fetchall()


def set_rank(conn: Conn, registration_id: int, rank: Decimal) -> None:
    conn.execute(
        "UPDATE registrations SET waitlist_rank = %s, updated_at = now() WHERE id = %s", (rank, registration_id)
    )


def ranks_around(conn: Conn, event_id: int, exclude_id: int, position: int) -> tuple[Decimal | None, Decimal | None]:
    """The ranks of the entries that would sit just before and at `position` (1-based)
    if `exclude_id` were taken out of the list; None where there is no such entry.
    Reads two rows through registrations_waitlist_order, not the whole list."""
    rows = conn.execute(
        "SELECT waitlist_rank FROM registrations WHERE event_id = %s AND status = 'waitlisted' AND id <> %s"
        " ORDER BY waitlist_rank, id OFFSET %s LIMIT 2",
        (event_id, exclude_id, max(position - 2, 0)),
    ).fetchall()
    ranks = [r["waitlist_rank"] for r in rows]
    if position == 1:
        return None, (ranks[0] if ranks else None)
    before = ranks[0] if ranks else None
    at = ranks[1] if len(ranks) > 1 else None
    return before, at
