"""Registration: taking and freeing seats, capacity changes, attendance.

The rule that makes capacity and waitlist order hold under concurrency: every
transaction that changes an event's seats or waitlist first locks the event row
(`SELECT ... FOR UPDATE`). Registrations for one event therefore queue on that
lock; each one sees the count its predecessor committed, and the database's
CHECK (registered_count <= capacity) refuses any write that would overbook.
The unique index registrations_one_live_per_user keeps one live row per user.
"""

from __future__ import annotations

from typing import Any

from eventreg.access import STAFF
from eventreg.audit import record
from eventreg.auth.service import Actor, require
from eventreg.errors import DomainError, InvalidInput, NotFound
from eventreg.events import repository as events_repo
from eventreg.events import service as events
from eventreg.registration import repository as repo
from eventreg.timeparse import now
from eventreg.users import service as users
from eventreg.waitlist import service as waitlist


def register(conn: Any, actor: Actor, ref: str) -> dict[str, Any]:
    """Take a seat, or a place on the waitlist when the event is full."""
    import psycopg

    try:
        with conn.transaction():
            event = events.get(conn, ref, lock=True)  # the event row lock: see the module docstring
            refusal = events.registration_open(event, now())
            if refusal:
                raise DomainError(refusal)
            if event["registered_count"] < event["capacity"]:
                repo.insert_registered(conn, event["id"], actor.id)
                events_repo.add_seats_taken(conn, event["id"], 1)
                record(conn, "registered", actor.id, event_id=event["id"], subject_user_id=actor.id)
                return {"status": "registered", "event": event, "position": None}
            position = waitlist.join(conn, event, actor.id, actor.id)
            return {"status": "waitlisted", "event": event, "position": position}
    except psycopg.errors.UniqueViolation:
        existing = repo.live(conn, event["id"], actor.id)
        state = existing["status"] if existing else "registered"
        raise DomainError(f"you are already {state} for {event['title']}") from None


def _free_seat(conn: Any, event: dict[str, Any], actor: Actor, user_id: int, action: str, reason: str | None) -> str:
    row = repo.live(conn, event["id"], user_id)
    if row is None:
        raise NotFound(f"no registration for {event['title']}")
    repo.cancel(conn, row["id"])
    record(
        conn,
        action,
        actor.id,
        event_id=event["id"],
        subject_user_id=user_id,
        reason=reason,
        details={"was": row["status"]},
    )
    if row["status"] == "registered":
        events_repo.add_seats_taken(conn, event["id"], -1)
        event = {**event, "registered_count": event["registered_count"] - 1}
        waitlist.fill_free_seats(conn, event, actor.id, reason=f"seat freed by {action}")
    return str(row["status"])


def cancel(conn: Any, actor: Actor, ref: str, user_ref: str | None = None, reason: str | None = None) -> str:
    """Cancel the actor's own registration (or, for staff, someone else's); the first
    person waiting gets the seat in the same transaction. Returns what was cancelled."""
    with conn.transaction():
        event = events.get(conn, ref, lock=True)
        if user_ref is None:
            return _free_seat(conn, event, actor, actor.id, "cancelled", reason)
        require(actor, STAFF)
        user = users.find_user(conn, user_ref)
        return _free_seat(conn, event, actor, user["id"], "removed", reason)


def cancel_all(conn: Any, actor: Actor, event: dict[str, Any], reason: str | None) -> int:
    """For a cancelled event (row locked by the caller): every live row is cancelled."""
    rows = repo.cancel_all_live(conn, event["id"])
    events_repo.add_seats_taken(conn, event["id"], -event["registered_count"])
    for row in rows:
        record(
            conn,
            "cancelled",
            actor.id,
            event_id=event["id"],
            subject_user_id=row["user_id"],
            reason=reason or "event cancelled",
        )
    return len(rows)


def change_capacity(
    conn: Any, actor: Actor, event: dict[str, Any], capacity: int, reason: str | None = None
) -> list[int]:
    """Set the capacity (event row locked by the caller). Raising it promotes from the
    waitlist at once; lowering it below the seats taken is refused with the numbers."""
    require(actor, STAFF)
    events.check_capacity(capacity)
    if capacity < event["registered_count"]:
        raise DomainError(
            f"{event['title']} has {event['registered_count']} registered: capacity cannot go down to {capacity}"
        )
    events_repo.set_capacity(conn, event["id"], capacity)
    record(
        conn,
        "capacity_changed",
        actor.id,
        event_id=event["id"],
        reason=reason,
        details={"from": event["capacity"], "to": capacity},
    )
    return waitlist.fill_free_seats(conn, {**event, "capacity": capacity}, actor.id, reason="capacity raised")


def set_capacity(conn: Any, actor: Actor, ref: str, capacity: int, reason: str | None = None) -> list[int]:
    with conn.transaction():
        event = events.get(conn, ref, lock=True)
        if event["status"] == "cancelled":
            raise DomainError(f"{event['title']} is cancelled")
        return change_capacity(conn, actor, event, capacity, reason)


def mine(conn: Any, actor: Actor, include_past: bool = False) -> list[dict[str, Any]]:
    return repo.of_user(conn, actor.id, include_past)


def checkin(conn: Any, actor: Actor, ref: str, user_ref: str, undo: bool = False) -> dict[str, Any]:
    require(actor, STAFF)
    with conn.transaction():
        event = events.get(conn, ref)
        user = users.find_user(conn, user_ref)
        # Lock the registration row so a concurrent cancellation cannot interleave.
        row = conn.execute(
            "SELECT id, status, checked_in_at FROM registrations"
            " WHERE event_id = %s AND user_id = %s AND status = 'registered' FOR UPDATE",
            (event["id"], user["id"]),
        ).fetchone()
        if row is None:
            raise DomainError(f"{user['email']} is not registered for {event['title']}")
        if undo and row["checked_in_at"] is None:
            raise DomainError(f"{user['email']} is not checked in")
        if not undo and row["checked_in_at"] is not None:
            raise DomainError(f"{user['email']} was already checked in")
        at = repo.set_checked_in(conn, row["id"], not undo)
        record(
            conn, "checkin_undone" if undo else "checked_in", actor.id, event_id=event["id"], subject_user_id=user["id"]
        )
    return {"user": user, "event": event, "checked_in_at": at}


def attendance(conn: Any, actor: Actor, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    require(actor, STAFF)
    event = events.get(conn, ref)
    return event, repo.attendance(conn, event["id"])


def history(conn: Any, actor: Actor, ref: str, limit: int = 500) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from eventreg import audit

    require(actor, STAFF)
    if limit < 1:
        raise InvalidInput("--limit must be 1 or more")
    event = events.get(conn, ref)
    return event, audit.history(conn, event["id"], limit)


def stats(conn: Any, actor: Actor, ref: str) -> dict[str, Any]:
    """Fill, waitlist, attendance rate and sign-ups per day for one event."""
    from eventreg.waitlist import repository as waitlist_repo

    require(actor, STAFF)
    event = events.get(conn, ref)
    attendees = repo.attendance(conn, event["id"])
    present = sum(1 for a in attendees if a["present"])
    return {
        "slug": event["slug"],
        "title": event["title"],
        "capacity": event["capacity"],
        "registered": event["registered_count"],
        "waitlist": waitlist_repo.length(conn, event["id"]),
        "present": present,
        "attendance_rate": round(present / len(attendees), 4) if attendees else None,
        "signups_per_day": [{"day": r["day"], "signups": r["signups"]} for r in repo.daily_signups(conn, event["id"])],
    }
