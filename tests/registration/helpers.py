"""Shared set-up for the registration tests: users, actors, events."""

from __future__ import annotations

import uuid
from typing import Any

from eventreg.auth.service import Actor
from eventreg.events import service as events


def actor_for(user: dict[str, Any]) -> Actor:
    return Actor(user["id"], user["email"], user["name"], user["role"], str(uuid.uuid4()))


def insert_users(conn: Any, count: int, role: str = "student", prefix: str = "u") -> list[Actor]:
    """Many users fast: no password hashing (they never log in)."""
    tag = uuid.uuid4().hex[:6]
    rows = conn.execute(
        "INSERT INTO users (email, name, role)"
        " SELECT %s || '-' || g || '-' || %s || '@example.edu', 'User ' || g, %s"
        " FROM generate_series(1, %s) AS g ORDER BY g RETURNING id, email, name, role",
        (prefix, tag, role, count),
    ).fetchall()
    return [actor_for(r) for r in rows]


def staff(conn: Any) -> Actor:
    return insert_users(conn, 1, "staff", "staff")[0]


def published_event(conn: Any, capacity: int, title: str = "Talk") -> dict[str, Any]:
    return events.create(conn, staff(conn), title, capacity, "2099-01-01T10:00", publish=True)


def event_state(conn: Any, event_id: int) -> dict[str, Any]:
    row = conn.execute("SELECT capacity, registered_count FROM events WHERE id = %s", (event_id,)).fetchone()
    rows = conn.execute(
        "SELECT user_id, status FROM registrations WHERE event_id = %s AND status <> 'cancelled'", (event_id,)
    ).fetchall()
    waiting = conn.execute(
        "SELECT user_id, row_number() OVER (ORDER BY waitlist_rank, id) AS position FROM registrations"
        " WHERE event_id = %s AND status = 'waitlisted' ORDER BY waitlist_rank, id",
        (event_id,),
    ).fetchall()
    return {
        "capacity": row["capacity"],
        "registered_count": row["registered_count"],
        "registered": {r["user_id"] for r in rows if r["status"] == "registered"},
        "waitlist": [r["user_id"] for r in waiting],
    }
