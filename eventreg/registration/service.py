"""Registration: seats, capacity, cancellation, attendance; the waitlist is called below it.

How capacity and order hold under concurrency: every transaction that changes an
event's seats, places, capacity or status first locks the event row
(`events.service.lock`, SELECT ... FOR UPDATE), so changes to one event happen one
at a time, each seeing what the one before committed. The database backs it:
CHECK (registered_count <= capacity) with the counters kept by trigger refuses any
overbooking, and the partial unique index registrations_one_live_per_user keeps
one seat or place per person. A seat freed here goes to the head of the waitlist
in the same transaction. While the lock is held, the writes and the commit leave
in one pipelined round trip.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg.rows

from eventreg import audit, paging
from eventreg.db.uow import UnitOfWork
from eventreg.errors import DomainError, EventregError, InvalidInput, NotFound
from eventreg.events import repository as events_repo
from eventreg.events import rules
from eventreg.events import service as events
from eventreg.registration import repository as repo
from eventreg.registration.repository import GivenUp, Taken
from eventreg.roles import ADMIN, Actor, is_staff, require
from eventreg.timeparse import utc
from eventreg.users import service as users
from eventreg.views import (
    Attendee,
    Cancellation,
    CapacityChange,
    CheckIn,
    Enrolment,
    EventCancellation,
    EventStats,
    HistoryEntry,
    MyRegistration,
    Page,
    Promoted,
    Registration,
    WaitlistChange,
)
from eventreg.waitlist import service as waitlist

STATUSES = ("registered", "waitlisted", "cancelled", "attended")


def register(uow: UnitOfWork, actor: Actor, ref: str) -> Enrolment:
    """Take a seat, or the next place on the waitlist when the event is full: decided under
    the event lock in one statement that is its own transaction, so the lock lives for that
    statement alone: one round trip (after the one that checked the session)."""
    with uow.by_itself():
        taken = repo.take_place(uow.conn, events.checked_ref(ref), actor.id, is_staff(actor))
    if taken.outcome in ("registered", "waitlisted"):
        assert taken.slug is not None and taken.title is not None
        return Enrolment(taken.slug, taken.title, taken.outcome, taken.place)
    raise _refusal(taken, ref)


def _refusal(taken: Taken, ref: str) -> EventregError:
    outcome, title = taken.outcome, taken.title
    if outcome == "missing":
        return events.not_found(ref)
    if outcome.startswith("already:"):
        return DomainError(f"you are already {outcome.split(':', 1)[1]} for {title}")
    if outcome.startswith("status:"):
        return DomainError(f"{title} is {outcome.split(':', 1)[1]}: registration is not open")
    if outcome == "started":
        return DomainError(f"{title} has already started")
    if outcome == "not-open" and taken.opens_at:
        return DomainError(f"registration for {title} opens at {utc(taken.opens_at)}")
    if outcome == "closed" and taken.closes_at:
        return DomainError(f"registration for {title} closed at {utc(taken.closes_at)}")
    return DomainError(f"registration for {title} is not open")


def _give_up(
    uow: UnitOfWork, actor: Actor, ref: str, user_ref: str | None, action: str, reason: str | None, only: str | None
) -> tuple[GivenUp, str, list[Promoted]]:
    """Give up a person's seat or place (one's own, or as an organiser someone else's); a freed
    seat goes to the head of the line, all in one statement under the event lock."""
    reason = audit.clean_reason(reason)
    ref = events.checked_ref(ref)
    if user_ref is None:
        person_id, email = actor.id, actor.email
    else:
        events.managed(uow, actor, ref, "change it")
        person = users.find(uow, user_ref)
        person_id, email = person.id, person.email
    with uow.by_itself():
        given = repo.give_up_place(uow.conn, ref, is_staff(actor), person_id, actor.id, action, reason, only)
    if given.outcome == "missing":
        raise events.not_found(ref)
    if given.outcome == "none":
        whose = "you are" if user_ref is None else f"{email} is"
        where = "on the waitlist of" if only == "waitlisted" else "registered for"
        raise NotFound(f"{whose} not {where} {given.title}")
    if given.outcome == "started":
        raise DomainError(f"{given.title} has already started: your seat can no longer be cancelled")
    if given.outcome == "checked-in":
        raise DomainError(f"you were checked in at {given.title}: only its organisers can cancel your seat now")
    if not given.promoted or (user_ref is not None or _manages(uow, actor, str(given.slug))):
        return given, email, users.people(uow, given.promoted)
    return given, email, []  # who got the seat is for its organisers, not for whoever gave it up


def _manages(uow: UnitOfWork, actor: Actor, slug: str) -> bool:
    return is_staff(actor) and events.manages(uow, actor, events.visible(uow, actor, slug))


def cancel(
    uow: UnitOfWork, actor: Actor, ref: str, user_ref: str | None = None, reason: str | None = None
) -> Cancellation:
    """`register cancel`: give up your seat or place (organisers: someone else's)."""
    action = "cancelled" if user_ref is None else "removed"
    given, email, promoted = _give_up(uow, actor, ref, user_ref, action, reason, None)
    return Cancellation(str(given.slug), str(given.title), email, given.outcome, promoted)


def leave_waitlist(uow: UnitOfWork, actor: Actor, ref: str) -> WaitlistChange:
    given, email, _ = _give_up(uow, actor, ref, None, "left_waitlist", None, "waitlisted")
    return WaitlistChange(str(given.slug), str(given.title), email, "left", given.place)


def remove_from_waitlist(
    uow: UnitOfWork, actor: Actor, ref: str, user_ref: str, reason: str | None = None
) -> WaitlistChange:
    given, email, _ = _give_up(uow, actor, ref, user_ref, "removed_from_waitlist", reason, "waitlisted")
    return WaitlistChange(str(given.slug), str(given.title), email, "removed", given.place)


def change_capacity(
    uow: UnitOfWork, actor: Actor, ref: str, capacity: int, reason: str | None = None
) -> CapacityChange:
    """Set the capacity. Raising it promotes from the waitlist at once, in order;
    lowering it below the seats taken is refused with the numbers."""
    reason = audit.clean_reason(reason)
    rules.check_capacity(capacity)
    locked = events.lock_managed(uow, actor, ref)
    event = locked.event
    if event.status == "cancelled":
        raise DomainError(f"{event.title} is cancelled")
    if capacity < event.registered:
        raise DomainError(f"{event.title} has {event.registered} registered: capacity cannot go down to {capacity}")
    raised = events_repo.set_capacity(uow.conn, locked, capacity)
    audit.record(
        uow.conn, "capacity_changed", actor.id, event_id=event.id, reason=reason,
        details={"from": event.capacity, "to": capacity},
    )  # fmt: skip
    promoted = waitlist.promote_head(uow, raised, raised.event.available, actor.id, "capacity raised")
    return CapacityChange(event.slug, event.title, event.capacity, capacity, promoted)


def promote_chosen(
    uow: UnitOfWork, actor: Actor, ref: str, user_ref: str, over_capacity: bool = False, reason: str | None = None
) -> WaitlistChange:
    """Give a chosen person on the waitlist a seat. With no seat free, only with
    over_capacity, which adds one seat (recorded) so the capacity CHECK still holds."""
    reason = audit.clean_reason(reason)
    locked = events.lock_managed(uow, actor, ref)
    event = locked.event
    user = users.find(uow, user_ref)
    registration_id = waitlist.take_place(uow, locked, user)
    if event.registered >= event.capacity:
        if not over_capacity:
            raise DomainError(
                f"no free seat at {event.title} ({event.registered}/{event.capacity}): "
                "pass --over-capacity to add a seat for this person"
            )
        events_repo.set_capacity(uow.conn, locked, event.capacity + 1)
        audit.record(
            uow.conn, "capacity_changed", actor.id, event_id=event.id, reason=reason or "over-capacity promotion",
            details={"from": event.capacity, "to": event.capacity + 1, "over_capacity": True},
        )  # fmt: skip
    waitlist.turn_into_seat(uow, locked, registration_id)
    audit.record(
        uow.conn, "promoted", actor.id, event_id=event.id, subject_user_id=user.id, reason=reason,
        details={"chosen": True, "over_capacity": over_capacity},
    )  # fmt: skip
    return WaitlistChange(event.slug, event.title, user.email, "promoted", None, over_capacity=over_capacity)


def cancel_event(uow: UnitOfWork, actor: Actor, ref: str, reason: str | None = None) -> EventCancellation:
    """Cancel an event with every seat and place; each person's cancellation is in the history."""
    reason = audit.clean_reason(reason)
    locked = events.lock_managed(uow, actor, ref)
    event = locked.event
    if event.status == "cancelled":
        raise DomainError(f"{event.title} is already cancelled")
    people = repo.live_people(uow.conn, locked)
    repo.cancel_all(uow.conn, locked)
    audit.record_each(
        uow.conn, "cancelled", actor.id, event.id, [p["user_id"] for p in people], reason or "event cancelled"
    )
    registered = sum(1 for p in people if p["status"] == "registered")
    events.mark_cancelled(
        uow,
        actor,
        locked,
        reason,
        {"registrations_cancelled": registered, "waitlist_cancelled": len(people) - registered},
    )
    return EventCancellation(
        event.slug, event.title, registered, len(people) - registered, [p["email"] for p in people]
    )


def checkin(uow: UnitOfWork, actor: Actor, ref: str, user_ref: str, undo: bool = False) -> CheckIn:
    event = events.managed(uow, actor, ref, "change it")
    user = users.find(uow, user_ref)
    row = repo.seat_for_checkin(uow.conn, event.id, user.id)
    if row is None:
        raise NotFound(f"{user.email} is not registered for {event.title}")
    if undo and row["checked_in_at"] is None:
        raise DomainError(f"{user.email} is not checked in")
    if not undo and row["checked_in_at"] is not None:
        raise DomainError(f"{user.email} was already checked in")
    at = repo.set_checked_in(uow.conn, row["id"], not undo)
    audit.record(
        uow.conn, "checkin_undone" if undo else "checked_in", actor.id, event_id=event.id, subject_user_id=user.id
    )
    return CheckIn(event.slug, event.title, user.email, at)


# -- reading --------------------------------------------------------------------------------


def attendance(uow: UnitOfWork, actor: Actor, ref: str, after: str | None, limit: int) -> Page[Attendee]:
    event = events.managed(uow, actor, ref)  # who may see comes before what they asked for
    paging.check_limit(limit)
    key = paging.decode(after, str, int)
    rows = repo.attendance(uow.conn, event.id, (key[0], key[1]) if key else None, limit + 1)
    return paging.page(rows, limit, lambda a: (a.name, a.user_id))


def history(uow: UnitOfWork, actor: Actor, ref: str, after: str | None, limit: int) -> Page[HistoryEntry]:
    event = events.managed(uow, actor, ref)  # who may see comes before what they asked for
    paging.check_limit(limit)
    key = paging.decode(after, int)
    rows = audit.history(uow.conn, event.id, key[0] if key else 0, limit + 1)
    return paging.page(rows, limit, lambda h: (h.id,))


def mine(uow: UnitOfWork, actor: Actor, include_past: bool, after: str | None, limit: int) -> Page[MyRegistration]:
    paging.check_limit(limit)
    key = paging.decode(after, datetime.fromisoformat, int)
    query, params = repo.mine_query(actor.id, include_past, (key[0], key[1]) if key else None, limit + 1)
    rows = uow.conn.execute(query, params).fetchall()
    page = paging.page(rows, limit, lambda r: (r["starts_at"].isoformat(), r["event_id"]))
    return Page([MyRegistration(**{k: v for k, v in r.items() if k != "event_id"}) for r in page.items], page.next)


def registration_filters(
    uow: UnitOfWork, actor: Actor, event: str | None, user: str | None, status: str | None
) -> tuple[int | None, int | None, str | None]:
    require(actor, ADMIN)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status[:40]!r}: use one of {', '.join(STATUSES)}")
    event_id = events.visible(uow, actor, event).id if event else None
    user_id = users.find(uow, user).id if user else None
    return event_id, user_id, status


def all_registrations(
    uow: UnitOfWork,
    actor: Actor,
    event: str | None,
    user: str | None,
    status: str | None,
    after: str | None,
    limit: int,
) -> Page[Registration]:
    paging.check_limit(limit)
    event_id, user_id, status = registration_filters(uow, actor, event, user, status)
    key = paging.decode(after, int)
    query, params = repo.all_query(event_id, user_id, status, key[0] if key else 0, limit + 1)
    with uow.conn.cursor(row_factory=psycopg.rows.class_row(Registration)) as cur:
        rows = cur.execute(query, params).fetchall()
    return paging.page(rows, limit, lambda r: (r.id,))


def stats(uow: UnitOfWork, actor: Actor, ref: str, utc_offset_minutes: int = 0) -> EventStats:
    """Fill, waitlist, attendance and sign-ups per day, all read in one snapshot."""
    if not -16 * 60 <= utc_offset_minutes <= 16 * 60:
        raise InvalidInput("the UTC offset must be within 16 hours")
    event = events.managed(uow, actor, ref)
    present = repo.present(uow.conn, event.id)
    return EventStats(
        slug=event.slug,
        title=event.title,
        capacity=event.capacity,
        registered=event.registered,
        waitlist=event.waitlist,
        present=present,
        attendance_rate=round(present / event.registered, 4) if event.registered else None,
        signups_per_day=repo.signups_per_day(uow.conn, event.id, timedelta(minutes=utc_offset_minutes)),
    )


# -- exports: the query of each list, whole (see db/export.py) ------------------------


def attendance_export(uow: UnitOfWork, actor: Actor, ref: str) -> tuple[Any, dict[str, Any]]:
    return repo.attendance_query(events.managed(uow, actor, ref).id, None, None)


def history_export(uow: UnitOfWork, actor: Actor, ref: str) -> tuple[Any, dict[str, Any]]:
    return audit.history_query(events.managed(uow, actor, ref).id, 0, None)


def mine_export(uow: UnitOfWork, actor: Actor, include_past: bool) -> tuple[Any, dict[str, Any]]:
    return repo.mine_query(actor.id, include_past, None, None)


def registrations_export(
    uow: UnitOfWork, actor: Actor, event: str | None, user: str | None, status: str | None
) -> tuple[Any, dict[str, Any]]:
    event_id, user_id, status = registration_filters(uow, actor, event, user, status)
    return repo.all_query(event_id, user_id, status, 0, None)
