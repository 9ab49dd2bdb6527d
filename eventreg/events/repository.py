"""SQL for `events` and `event_organisers`: the only module that writes them.

The seat counters (registered_count, waitlist_length) are kept by a trigger on
registrations (migration 0008); capacity changes go through `set_capacity`, which
only the registration module calls, always with the row locked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from eventreg.views import Event, Organiser

Conn = Any

EVENT = sql.SQL(
    "e.id, e.slug, e.title, e.description, e.location, e.status, e.capacity,"
    " e.registered_count AS registered, e.capacity - e.registered_count AS available,"
    " e.waitlist_length AS waitlist, e.starts_at, e.ends_at, e.registration_opens_at, e.registration_closes_at"
)
# Columns `update` may set; identifiers come only from this list.
DETAILS = (
    "title", "description", "location", "starts_at", "ends_at", "registration_opens_at", "registration_closes_at",
)  # fmt: skip
_LOCK_KEY = object()


@dataclass(frozen=True)
class LockedEvent:
    """An event whose row this transaction holds with SELECT ... FOR UPDATE.

    Every change to an event's seats, waitlist, capacity or status takes this lock
    first, so those changes happen one transaction at a time per event. Functions
    that need the lock take a LockedEvent, which only `lock` and `refresh` make.
    """

    event: Event
    _key: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._key is not _LOCK_KEY:
            raise TypeError("a LockedEvent comes only from events.repository.lock")

    @property
    def id(self) -> int:
        return self.event.id


def _where_ref(ref: str) -> tuple[sql.Composable, Any]:
    """An event by id (all digits) or by slug."""
    if ref.isascii() and ref.isdigit():
        return sql.SQL("e.id = %s"), int(ref)
    return sql.SQL("e.slug = %s"), ref


def _one(conn: Conn, query: sql.Composable, params: Any) -> Event | None:
    with conn.cursor(row_factory=class_row(Event)) as cur:
        found: Event | None = cur.execute(query, params).fetchone()
        return found


def find(conn: Conn, ref: str) -> Event | None:
    where, value = _where_ref(ref)
    return _one(conn, sql.SQL("SELECT {} FROM events e WHERE {}").format(EVENT, where), (value,))


def lock(conn: Conn, ref: str) -> LockedEvent | None:
    """Take the event's row lock (waiting for whoever holds it) and read the row as it is now."""
    where, value = _where_ref(ref)
    event = _one(conn, sql.SQL("SELECT {} FROM events e WHERE {} FOR UPDATE").format(EVENT, where), (value,))
    return None if event is None else LockedEvent(event, _LOCK_KEY)


def slug_taken(conn: Conn, slug: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE slug = %s", (slug,)).fetchone() is not None


def insert(conn: Conn, fields: dict[str, Any]) -> Event:
    names = list(fields)
    query = sql.SQL("INSERT INTO events AS e ({}) VALUES ({}) RETURNING {}").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(sql.Placeholder() * len(names)), EVENT
    )
    event = _one(conn, query, [fields[n] for n in names])
    assert event is not None
    return event


def update(conn: Conn, locked: LockedEvent, changes: dict[str, Any]) -> Event:
    names = [name for name in changes if name in DETAILS]
    query = sql.SQL("UPDATE events AS e SET {}, updated_at = clock_timestamp() WHERE e.id = %s RETURNING {}").format(
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names), EVENT
    )
    event = _one(conn, query, [changes[n] for n in names] + [locked.id])
    assert event is not None
    return event


def set_status(conn: Conn, locked: LockedEvent, status: str) -> Event:
    query = sql.SQL("UPDATE events AS e SET status = %s, updated_at = clock_timestamp() WHERE e.id = %s RETURNING {}")
    event = _one(conn, query.format(EVENT), (status, locked.id))
    assert event is not None
    return event


def set_capacity(conn: Conn, locked: LockedEvent, capacity: int) -> LockedEvent:
    """The event, still locked, with its new capacity. CHECK (registered_count <= capacity)
    refuses a capacity below the seats taken."""
    query = sql.SQL("UPDATE events AS e SET capacity = %s, updated_at = clock_timestamp() WHERE e.id = %s RETURNING {}")
    event = _one(conn, query.format(EVENT), (capacity, locked.id))
    assert event is not None
    return LockedEvent(event, _LOCK_KEY)


def page_query(
    scope: str,
    include_drafts: bool,
    organiser_id: int | None,
    after: tuple[datetime, int] | None,
    limit: int | None,
    now: datetime,
) -> tuple[sql.Composed, dict[str, Any]]:
    """Events in start order (newest first for `past`), a keyset page after (starts_at, id)."""
    descending = scope == "past"
    order = sql.SQL("e.starts_at DESC, e.id DESC" if descending else "e.starts_at, e.id")
    if after is None:
        keyset: sql.Composable = sql.SQL("TRUE")
    else:
        keyset = sql.SQL("(e.starts_at, e.id) {} (%(at)s, %(id)s)").format(sql.SQL("<" if descending else ">"))
    query = sql.SQL(
        """
        SELECT {columns} FROM events e
         WHERE (%(scope)s = 'all'
                OR (%(scope)s = 'upcoming' AND e.ends_at > %(now)s)
                OR (%(scope)s = 'past' AND e.ends_at <= %(now)s))
           AND (%(drafts)s OR e.status <> 'draft')
           AND (%(organiser)s::bigint IS NULL
                OR EXISTS (SELECT 1 FROM event_organisers o WHERE o.event_id = e.id AND o.user_id = %(organiser)s))
           AND {keyset}
         ORDER BY {order} {limited}
        """
    ).format(
        columns=EVENT,
        keyset=keyset,
        order=order,
        limited=sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""),
    )
    params = {
        "scope": scope,
        "now": now,
        "drafts": include_drafts,
        "organiser": organiser_id,
        "at": after[0] if after else now,
        "id": after[1] if after else 0,
        "limit": limit,
    }
    return query, params


def run(conn: Conn, query: sql.Composable, params: Any) -> list[Event]:
    with conn.cursor(row_factory=class_row(Event)) as cur:
        return cur.execute(query, params).fetchall()


# -- organisers --------------------------------------------------------------------------


def is_organiser(conn: Conn, event_id: int, user_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM event_organisers WHERE event_id = %s AND user_id = %s", (event_id, user_id)
    ).fetchone()
    return row is not None


def organisers(conn: Conn, event_id: int) -> list[Organiser]:
    with conn.cursor(row_factory=class_row(Organiser)) as cur:
        return cur.execute(
            "SELECT u.id AS user_id, u.email, u.name, o.added_at FROM event_organisers o"
            " JOIN users u ON u.id = o.user_id WHERE o.event_id = %s ORDER BY o.added_at, u.id",
            (event_id,),
        ).fetchall()


def add_organiser(conn: Conn, event_id: int, user_id: int, added_by: int) -> bool:
    cur = conn.execute(
        "INSERT INTO event_organisers (event_id, user_id, added_by) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (event_id, user_id, added_by),
    )
    return bool(cur.rowcount)


def remove_organiser(conn: Conn, event_id: int, user_id: int) -> bool:
    cur = conn.execute("DELETE FROM event_organisers WHERE event_id = %s AND user_id = %s", (event_id, user_id))
    return bool(cur.rowcount)
