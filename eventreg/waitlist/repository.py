"""SQL for waitlist places: the rows of `registrations` whose status is 'waitlisted'.

Seats and places share one table so that one partial unique index keeps a person
from holding both for an event. Joining and leaving the line happen in the
registration module's seat functions (migration 0011); this module reorders the
line, reads it, and promotes its head. Every function that writes takes a
LockedEvent: the caller holds the event's row lock.

Order is (waitlist_rank, id): the rank comes from waitlist_rank_seq on joining, so
join order needs no renumbering, and a staff move gives a rank between two
neighbours. Positions are counted, never stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from eventreg.events.repository import LockedEvent
from eventreg.views import Promoted

Conn = Any


def place(conn: Conn, locked: LockedEvent, user_id: int) -> dict[str, Any] | None:
    """The user's place (id, waitlist_rank), or None when they are not waiting."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT id, waitlist_rank FROM registrations WHERE event_id = %s AND user_id = %s AND status = 'waitlisted'",
        (locked.id, user_id),
    ).fetchone()
    return row


def promote(conn: Conn, locked: LockedEvent, seats: int, actor_id: int | None, reason: str) -> list[Promoted]:
    """Turn the first `seats` places into seats, in order (eventreg_promote_head, migration 0011,
    the same function a cancellation promotes with); returns who, in order."""
    with conn.cursor(row_factory=class_row(Promoted)) as cur:
        return cur.execute(
            "SELECT u.email, u.name FROM eventreg_promote_head(%s, %s, %s, %s) WITH ORDINALITY AS h (user_id, n)"
            " JOIN users u ON u.id = h.user_id ORDER BY h.n",
            (locked.id, seats, actor_id, reason),
        ).fetchall()


def promote_one(conn: Conn, locked: LockedEvent, registration_id: int) -> None:
    conn.execute(
        "UPDATE registrations SET status = 'registered', registered_at = clock_timestamp(), waitlist_rank = NULL,"
        " updated_at = clock_timestamp() WHERE id = %s AND event_id = %s AND status = 'waitlisted'",
        (registration_id, locked.id),
    )


def next_rank(conn: Conn) -> Decimal:
    """The rank of whoever joins a line next (waitlist_rank_seq, which eventreg_take_place uses)."""
    row = conn.execute("SELECT nextval('waitlist_rank_seq') AS rank").fetchone()
    return Decimal(row["rank"])


def set_rank(conn: Conn, locked: LockedEvent, registration_id: int, rank: Decimal) -> None:
    conn.execute(
        "UPDATE registrations SET waitlist_rank = %s, updated_at = clock_timestamp() WHERE id = %s AND event_id = %s",
        (rank, registration_id, locked.id),
    )


def ranks_around(conn: Conn, locked: LockedEvent, exclude_id: int, to: int) -> tuple[Decimal | None, Decimal | None]:
    """The ranks of the entries that would stand just before and at position `to`
    (1-based) once `exclude_id` is taken out; None where there is none."""
    rows = conn.execute(
        "SELECT waitlist_rank FROM registrations WHERE event_id = %s AND status = 'waitlisted' AND id <> %s"
        " ORDER BY waitlist_rank, id OFFSET %s LIMIT 2",
        (locked.id, exclude_id, max(to - 2, 0)),
    ).fetchall()
    ranks = [r["waitlist_rank"] for r in rows]
    if to == 1:
        return None, (ranks[0] if ranks else None)
    return (ranks[0] if ranks else None), (ranks[1] if len(ranks) > 1 else None)


def entries_query(
    event_id: int, after: tuple[Decimal, int, int] | None, limit: int | None
) -> tuple[sql.Composed, dict[str, Any]]:
    """The waitlist in promotion order, each with its position (WaitlistEntry columns,
    then rank and id for the next cursor). A keyset page after (rank, id, position)
    counts on from the position of the cursor instead of counting everyone ahead."""
    keyset = sql.SQL("AND (r.waitlist_rank, r.id) > (%(rank)s, %(id)s)") if after else sql.SQL("")
    limited = sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL("")
    query = sql.SQL(
        """
        SELECT %(base)s + row_number() OVER (ORDER BY w.waitlist_rank, w.id) AS position,
               w.user_id, u.email, u.name, w.created_at AS joined_at, w.waitlist_rank, w.id
          FROM (SELECT r.id, r.user_id, r.created_at, r.waitlist_rank FROM registrations r
                 WHERE r.event_id = %(event)s AND r.status = 'waitlisted' {keyset}
                 ORDER BY r.waitlist_rank, r.id {limited}) w
          JOIN users u ON u.id = w.user_id
         ORDER BY w.waitlist_rank, w.id
        """
    ).format(keyset=keyset, limited=limited)
    params: dict[str, Any] = {"event": event_id, "base": after[2] if after else 0, "limit": limit}
    if after:
        params.update(rank=after[0], id=after[1])
    return query, params


def entries(conn: Conn, event_id: int, after: tuple[Decimal, int, int] | None, limit: int) -> list[dict[str, Any]]:
    query, params = entries_query(event_id, after, limit)
    return list(conn.execute(query, params).fetchall())
