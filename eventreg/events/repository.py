"""SQL for events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql

Conn = Any

EVENT_COLUMNS = (
    "e.id, e.slug, e.title, e.description, e.location, e.capacity, e.registered_count,"
    " e.starts_at, e.ends_at, e.registration_opens_at, e.registration_closes_at, e.status,"
    " e.created_by, e.created_at, e.updated_at"
)
WAITLIST_LENGTH = (
    "(SELECT count(*) FROM registrations w WHERE w.event_id = e.id AND w.status = 'waitlisted')"
)
# Columns `update` may set; identifiers come only from this list.
UPDATABLE = (
    "title", "description", "location", "starts_at", "ends_at",
    "registration_opens_at", "registration_closes_at", "slug",
)


def insert(conn: Conn, fields: dict[str, Any]) -> dict[str, Any]:
    names = list(fields)
    query = sql.SQL("INSERT INTO events AS e ({}) VALUES ({}) RETURNING " + EVENT_COLUMNS).format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    return conn.execute(query, [fields[n] for n in names]).fetchone()


def find(conn: Conn, ref: str, lock: bool = False) -> dict[str, Any] | None:
    """An event by id (all digits) or slug. `lock` takes the row lock that serialises
    every change to the event's seats and waitlist."""
    column = "id" if ref.isdigit() else "slug"
    value: Any = int(ref) if ref.isdigit() else ref
    suffix = " FOR UPDATE" if lock else ""
    query = f"SELECT {EVENT_COLUMNS} FROM events e WHERE e.{column} = %s{suffix}"
    return conn.execute(query, (value,)).fetchone()


def with_waitlist_length(conn: Conn, event_id: int) -> dict[str, Any]:
    return conn.execute(
        f"SELECT {EVENT_COLUMNS}, {WAITLIST_LENGTH} AS waitlist_length FROM events e WHERE e.id = %s",
        (event_id,),
    ).fetchone()


def slug_taken(conn: Conn, slug: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE slug = %s", (slug,)).fetchone() is not None


def update(conn: Conn, event_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    assignments = [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder())
        for name in changes
        if name in UPDATABLE
    ]
    query = sql.SQL("UPDATE events AS e SET {}, updated_at = now() WHERE e.id = %s RETURNING " + EVENT_COLUMNS)
    return conn.execute(
        query.format(sql.SQL(", ").join(assignments)),
        [value for name, value in changes.items() if name in UPDATABLE] + [event_id],
    ).fetchone()


def set_status(conn: Conn, event_id: int, status: str) -> None:
    conn.execute("UPDATE events SET status = %s, updated_at = now() WHERE id = %s", (status, event_id))


def add_seats_taken(conn: Conn, event_id: int, delta: int) -> None:
    """Move registered_count; CHECK (registered_count <= capacity) backs every caller."""
    conn.execute(
        "UPDATE events SET registered_count = registered_count + %s WHERE id = %s", (delta, event_id)
    )


def set_capacity(conn: Conn, event_id: int, capacity: int) -> None:
    conn.execute(
        "UPDATE events SET capacity = %s, updated_at = now() WHERE id = %s", (capacity, event_id)
    )


def listing(
    conn: Conn, scope: str, include_drafts: bool, created_by: int | None, now: datetime
) -> list[dict[str, Any]]:
    where = ["TRUE"]
    params: list[Any] = []
    if scope == "upcoming":
        where.append("e.ends_at > %s")
        params.append(now)
    elif scope == "past":
        where.append("e.ends_at <= %s")
        params.append(now)
    if not include_drafts:
        where.append("e.status <> 'draft'")
    if created_by is not None:
        where.append("e.created_by = %s")
        params.append(created_by)
    order = "e.starts_at DESC" if scope == "past" else "e.starts_at"
    query = (
        f"SELECT {EVENT_COLUMNS}, {WAITLIST_LENGTH} AS waitlist_length FROM events e"
        f" WHERE {' AND '.join(where)} ORDER BY {order}, e.id"
    )
    return conn.execute(query, params).fetchall()
