"""SQL for seats: the rows of `registrations` whose status is 'registered', and their history.

This module writes seats (taking one, giving one up, check-in, cancelling an
event's rows); the waitlist module writes places. The counters on `events` follow
by trigger. Functions that change seats take a LockedEvent: the caller holds the
event's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from eventreg.events.repository import LockedEvent
from eventreg.views import Attendee, DaySignups

Conn = Any


@dataclass(frozen=True)
class Taken:
    outcome: str  # registered | waitlisted | already:<status> | missing | status:<status> | started | not-open | closed
    place: int | None
    slug: str | None
    title: str | None
    opens_at: datetime | None
    closes_at: datetime | None


@dataclass(frozen=True)
class GivenUp:
    outcome: str  # missing | none | registered | waitlisted
    place: int | None
    promoted: list[int]
    slug: str | None
    title: str | None


def take_place(conn: Conn, ref: str, user_id: int, staff: bool) -> Taken:
    """A seat, or the next place in line, decided under the event lock inside one statement
    (eventreg_take_place, migration 0011)."""
    with conn.cursor(row_factory=class_row(Taken)) as cur:
        taken: Taken = cur.execute("SELECT * FROM eventreg_take_place(%s, %s, %s)", (ref, user_id, staff)).fetchone()
        return taken


def give_up_place(
    conn: Conn, ref: str, staff: bool, user_id: int, actor_id: int, action: str, reason: str | None, only: str | None
) -> GivenUp:
    """Give up a seat or (with `only`='waitlisted') a place, the head of the line promoted into
    a freed seat, in one statement under the event lock (eventreg_give_up_place)."""
    with conn.cursor(row_factory=class_row(GivenUp)) as cur:
        given: GivenUp = cur.execute(
            "SELECT * FROM eventreg_give_up_place(%s, %s, %s, %s, %s, %s, %s)",
            (ref, staff, user_id, actor_id, action, reason, only),
        ).fetchone()
        return given


def live_people(conn: Conn, locked: LockedEvent) -> list[dict[str, Any]]:
    """Everyone holding a seat or a place: user_id, email, status."""
    return list(
        conn.execute(
            "SELECT r.user_id, u.email, r.status FROM registrations r JOIN users u ON u.id = r.user_id"
            " WHERE r.event_id = %s AND r.status IN ('registered', 'waitlisted') ORDER BY r.id",
            (locked.id,),
        ).fetchall()
    )


def cancel_all(conn: Conn, locked: LockedEvent) -> None:
    """Every seat and place of an event that is being cancelled (seats and places alike)."""
    conn.execute(
        "UPDATE registrations SET status = 'cancelled', cancelled_at = clock_timestamp(), waitlist_rank = NULL,"
        " checked_in_at = NULL, updated_at = clock_timestamp()"
        " WHERE event_id = %s AND status IN ('registered', 'waitlisted')",
        (locked.id,),
    )


def seat_for_checkin(conn: Conn, event_id: int, user_id: int) -> dict[str, Any] | None:
    """The user's seat, row-locked so a cancellation cannot interleave with the check-in."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT id, checked_in_at FROM registrations WHERE event_id = %s AND user_id = %s AND status = 'registered'"
        " FOR UPDATE",
        (event_id, user_id),
    ).fetchone()
    return row


def set_checked_in(conn: Conn, registration_id: int, present: bool) -> datetime | None:
    row = conn.execute(
        "UPDATE registrations SET checked_in_at = CASE WHEN %s THEN clock_timestamp() END,"
        " updated_at = clock_timestamp() WHERE id = %s RETURNING checked_in_at",
        (present, registration_id),
    ).fetchone()
    at: datetime | None = row["checked_in_at"]
    return at


# -- lists (each a query for a page and for a CSV export) -------------------------------


def attendance_query(
    event_id: int, after: tuple[str, int] | None, limit: int | None
) -> tuple[sql.Composed, dict[str, Any]]:
    """Attendees by name (Attendee columns); keyset (name, user_id)."""
    query = sql.SQL(
        """
        SELECT u.id AS user_id, u.email, u.name, r.registered_at, r.checked_in_at,
               r.checked_in_at IS NOT NULL AS present
          FROM registrations r JOIN users u ON u.id = r.user_id
         WHERE r.event_id = %(event)s AND r.status = 'registered' {keyset}
         ORDER BY u.name, u.id {limited}
        """
    ).format(
        keyset=sql.SQL("AND (u.name, u.id) > (%(name)s, %(id)s)") if after else sql.SQL(""),
        limited=sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""),
    )
    params: dict[str, Any] = {"event": event_id, "limit": limit}
    if after:
        params.update(name=after[0], id=after[1])
    return query, params


def attendance(conn: Conn, event_id: int, after: tuple[str, int] | None, limit: int) -> list[Attendee]:
    query, params = attendance_query(event_id, after, limit)
    with conn.cursor(row_factory=class_row(Attendee)) as cur:
        return cur.execute(query, params).fetchall()


def mine_query(
    user_id: int, include_past: bool, after: tuple[datetime, int] | None, limit: int | None
) -> tuple[sql.Composed, dict[str, Any]]:
    """A user's seats and places (MyRegistration columns, then the event id), by start;
    a place's position is counted through the waitlist index."""
    query = sql.SQL(
        """
        SELECT e.slug, e.title, r.status,
               CASE WHEN r.status = 'waitlisted' THEN (
                   SELECT count(*) FROM registrations w
                    WHERE w.event_id = r.event_id AND w.status = 'waitlisted'
                      AND (w.waitlist_rank, w.id) <= (r.waitlist_rank, r.id)) END AS position,
               e.starts_at, r.registered_at, r.checked_in_at, e.id AS event_id
          FROM registrations r JOIN events e ON e.id = r.event_id
         WHERE r.user_id = %(user)s AND r.status IN ('registered', 'waitlisted')
           AND (%(past)s OR e.ends_at > clock_timestamp()) {keyset}
         ORDER BY e.starts_at, e.id {limited}
        """
    ).format(
        keyset=sql.SQL("AND (e.starts_at, e.id) > (%(at)s, %(id)s)") if after else sql.SQL(""),
        limited=sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""),
    )
    params: dict[str, Any] = {"user": user_id, "past": include_past, "limit": limit}
    if after:
        params.update(at=after[0], id=after[1])
    return query, params


def all_query(
    event_id: int | None, user_id: int | None, status: str | None, after: int, limit: int | None
) -> tuple[sql.Composed, dict[str, Any]]:
    """Every registration (Registration columns) by id; `attended` is a registered row with a check-in."""
    query = sql.SQL(
        """
        SELECT r.id, e.slug AS event, e.title, u.email, u.name,
               CASE WHEN r.status = 'registered' AND r.checked_in_at IS NOT NULL THEN 'attended'
                    ELSE r.status END AS status,
               r.created_at, r.registered_at, r.cancelled_at, r.checked_in_at
          FROM registrations r
          JOIN events e ON e.id = r.event_id
          JOIN users u ON u.id = r.user_id
         WHERE r.id > %(after)s
           AND (%(event)s::bigint IS NULL OR r.event_id = %(event)s)
           AND (%(user)s::bigint IS NULL OR r.user_id = %(user)s)
           AND (%(status)s::text IS NULL
                OR (%(status)s = 'attended' AND r.status = 'registered' AND r.checked_in_at IS NOT NULL)
                OR (%(status)s = 'registered' AND r.status = 'registered' AND r.checked_in_at IS NULL)
                OR (%(status)s IN ('waitlisted', 'cancelled') AND r.status = %(status)s))
         ORDER BY r.id {limited}
        """
    ).format(limited=sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""))
    return query, {"after": after, "event": event_id, "user": user_id, "status": status, "limit": limit}


def signups_per_day(conn: Conn, event_id: int, utc_offset: timedelta) -> list[DaySignups]:
    """Seats and places taken per day, days counted at the caller's UTC offset."""
    with conn.cursor(row_factory=class_row(DaySignups)) as cur:
        return cur.execute(
            "SELECT ((created_at AT TIME ZONE 'UTC') + %s)::date AS day, count(*)::int AS signups"
            " FROM registrations WHERE event_id = %s GROUP BY 1 ORDER BY 1",
            (utc_offset, event_id),
        ).fetchall()


def present(conn: Conn, event_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM registrations WHERE event_id = %s AND status = 'registered'"
        " AND checked_in_at IS NOT NULL",
        (event_id,),
    ).fetchone()
    return int(row["n"])
