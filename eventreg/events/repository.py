"""SQL for events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql

Conn = Any

EVENT_COLUMNS = sql.SQL(
    "e.id, e.slug, e.title, e.description, e.location, e.capacity, e.registered_count,"
    " e.starts_at, e.ends_at, e.registration_opens_at, e.registration_closes_at, e.status,"
    " e.created_by, e.created_at, e.updated_at"
)
WAITLIST_LENGTH = sql.SQL(
    "(SELECT count(*) FROM registrations w WHERE w.event_id = e.id AND w.status = 'waitlisted') AS waitlist_length"
)
# Columns `update` may set; identifiers come only from this list.
UPDATABLE = (
    "title",
    "description",
    "location",
    "starts_at",
    "ends_at",
    "registration_opens_at",
    "registration_closes_at",
    "slug",
)


def insert(conn: Conn, fields: dict[str, Any]) -> dict[str, Any]:
    names = list(fields)
    query = sql.SQL("INSERT INTO events AS e ({}) VALUES ({}) RETURNING {}").format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
        EVENT_COLUMNS,
    )
    return conn.execute(query, [fields[n] for n in names]).fetchone()


def find(conn: Conn, ref: str, lock: bool = False) -> dict[str, Any] | None:
    """An event by id (all digits) or slug. `lock` takes the row lock that serialises
    every change to the event's seats and waitlist."""
    numeric = ref.isascii() and ref.isdigit()
    column = sql.Identifier("id" if numeric else "slug")
    value: Any = int(ref) if numeric else ref
    query = sql.SQL("SELECT {} FROM events e WHERE e.{} = %s {}").format(
        EVENT_COLUMNS, column, sql.SQL("FOR UPDATE" if lock else "")
    )
    return conn.execute(query, (value,)).fetchone()


def with_waitlist_length(conn: Conn, event_id: int) -> dict[str, Any]:
    query = sql.SQL("SELECT {}, {} FROM events e WHERE e.id = %s").format(EVENT_COLUMNS, WAITLIST_LENGTH)
    return conn.execute(query, (event_id,)).fetchone()


def slug_taken(conn: Conn, slug: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE slug = %s", (slug,)).fetchone() is not None


def update(conn: Conn, event_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    assignments = [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in changes if name in UPDATABLE
    ]
    query = sql.SQL("UPDATE events AS e SET {}, updated_at = now() WHERE e.id = %s RETURNING {}")
    return conn.execute(
        query.format(sql.SQL(", ").join(assignments), EVENT_COLUMNS),
        [value for name, value in changes.items() if name in UPDATABLE] + [event_id],
    ).fetchone()


def set_status(conn: Conn, event_id: int, status: str) -> None:
    conn.execute("UPDATE events SET status = %s, updated_at = now() WHERE id = %s", (status, event_id))


def add_seats_taken(conn: Conn, event_id: int, delta: int) -> None:
    """Move registered_count; CHECK (registered_count <= capacity) backs every caller."""
    conn.execute("UPDATE events SET registered_count = registered_count + %s WHERE id = %s", (delta, event_id))


def set_capacity(conn: Conn, event_id: int, capacity: int) -> None:
    conn.execute("UPDATE events SET capacity = %s, updated_at = now() WHERE id = %s", (capacity, event_id))


def listing(
    conn: Conn, scope: str, include_drafts: bool, created_by: int | None, now: datetime
) -> list[dict[str, Any]]:
    # Fixed conditions; every value is a bound parameter (NULL means "no filter").
    query = sql.SQL(
        """
        SELECT {}, {} FROM events e
         WHERE (%(scope)s = 'all'
                OR (%(scope)s = 'upcoming' AND e.ends_at > %(now)s)
                OR (%(scope)s = 'past' AND e.ends_at <= %(now)s))
           AND (%(drafts)s OR e.status <> 'draft')
           AND (%(creator)s::bigint IS NULL OR e.created_by = %(creator)s)
         ORDER BY CASE WHEN %(scope)s = 'past' THEN -extract(epoch FROM e.starts_at)
                       ELSE extract(epoch FROM e.starts_at) END, e.id
        """
    ).format(EVENT_COLUMNS, WAITLIST_LENGTH)
    params = {"scope": scope, "now": now, "drafts": include_drafts, "creator": created_by}
    return conn.execute(query, params).fetchall()
