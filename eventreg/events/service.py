"""Events: creating, changing, publishing, listing; who may see and who may manage each.

Students see published and cancelled events; a draft is "not found" to them, by
slug or by id, exactly like an event that does not exist. Staff may see every
event; only its organisers and admins may change it. Seats, capacity and
cancellation belong to the registration module, which builds on this one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from eventreg import audit, paging, text
from eventreg.db.uow import UnitOfWork
from eventreg.errors import DomainError, InvalidInput, NotFound, NotLoggedIn, PermissionDenied
from eventreg.events import repository as repo
from eventreg.events import rules
from eventreg.events.repository import LockedEvent
from eventreg.roles import ADMIN, STAFF, Actor, is_staff, require
from eventreg.timeparse import now, parse_time, utc
from eventreg.users import service as users
from eventreg.views import Event, Organiser, Page

SCOPES = ("upcoming", "past", "all")
# The option each time is given with, for errors: `event create` and `event update` alike.
TIME_OPTIONS = {
    "starts_at": "--starts-at",
    "ends_at": "--ends-at",
    "registration_opens_at": "--registration-opens",
    "registration_closes_at": "--registration-closes",
}


def not_found(ref: str) -> NotFound:
    return NotFound(f"no event {text.for_terminal(ref[:80])!r}")


def checked_ref(ref: str) -> str:
    """A reference that could name an event (an id or a slug), or NotFound at once."""
    ref = ref.strip()
    if not ref or len(ref) > rules.MAX_SLUG or not ref.isascii() or text.UNSAFE.search(ref):
        raise not_found(ref)
    if ref.isdigit() and len(ref) > 18:
        raise not_found(ref)
    return ref


def _visible_to(event: Event, actor: Actor | None) -> bool:
    return event.status != "draft" or is_staff(actor)


def visible(uow: UnitOfWork, actor: Actor | None, ref: str) -> Event:
    """An event the caller may see."""
    ref = checked_ref(ref)
    event = repo.find(uow.conn, ref)
    if event is None or not _visible_to(event, actor):
        raise not_found(ref)
    return event


def lock(uow: UnitOfWork, actor: Actor | None, ref: str) -> LockedEvent:
    """Lock an event the caller may see (see LockedEvent); a draft is not found for students."""
    ref = checked_ref(ref)
    locked = repo.lock(uow.conn, ref)
    if locked is None or not _visible_to(locked.event, actor):
        raise not_found(ref)
    return locked


def manages(uow: UnitOfWork, actor: Actor, event: Event) -> bool:
    """Whether the actor is one of the event's organisers (staff) or an admin."""
    if actor.at_least(ADMIN):
        return True
    return is_staff(actor) and repo.is_organiser(uow.conn, event.id, actor.id)


def require_manager(uow: UnitOfWork, actor: Actor, event: Event, doing: str = "change it") -> None:
    """Only the event's organisers (staff) and admins may change it, or see who is coming."""
    require(actor, STAFF)
    if not manages(uow, actor, event):
        raise PermissionDenied(f"only the organisers of {event.title} or an admin may {doing}")


def managed(uow: UnitOfWork, actor: Actor, ref: str, doing: str = "see who registered") -> Event:
    """An event the actor manages (organiser or admin), to see its people (attendance, waitlist,
    history, figures) or act on them: other staff may look at an event, not at who is on it."""
    require(actor, STAFF)  # before the event is looked up, so a student learns nothing of drafts
    event = visible(uow, actor, ref)
    require_manager(uow, actor, event, doing)
    return event


def lock_managed(uow: UnitOfWork, actor: Actor, ref: str) -> LockedEvent:
    require(actor, STAFF)
    locked = lock(uow, actor, ref)
    require_manager(uow, actor, locked.event)
    return locked


def _refuse_past(starts_at: datetime, what: str, allow_past: bool) -> None:
    if starts_at <= now() and not allow_past:
        raise DomainError(f"{what} starts in the past ({utc(starts_at)}): confirm, or pass --allow-past")


def create(
    uow: UnitOfWork,
    actor: Actor,
    *,
    title: str,
    capacity: int,
    starts_at: str,
    ends_at: str | None = None,
    slug: str | None = None,
    location: str = "",
    description: str = "",
    registration_opens: str | None = None,
    registration_closes: str | None = None,
    publish: bool = False,
    allow_past: bool = False,
) -> Event:
    """A new event (a draft unless `publish`); its creator becomes its first organiser."""
    require(actor, STAFF)
    clean_title = rules.clean_title(title)
    start = parse_time(starts_at, "--starts-at")
    schedule = rules.Schedule(
        start,
        parse_time(ends_at, "--ends-at") if ends_at else rules.default_end(start),
        parse_time(registration_opens, "--registration-opens") if registration_opens else None,
        parse_time(registration_closes, "--registration-closes") if registration_closes else None,
    ).check()
    fields: dict[str, Any] = {
        "title": clean_title,
        "capacity": rules.check_capacity(capacity),
        "location": rules.clean_location(location),
        "description": rules.clean_description(description),
        **vars(schedule),
        "status": "published" if publish else "draft",
        "created_by": actor.id,
    }
    _refuse_past(schedule.starts_at, clean_title, allow_past)
    base = rules.check_slug(slug) if slug else rules.slugify(clean_title)
    candidate, n = base, 1
    while not slug and repo.slug_taken(uow.conn, candidate):
        n += 1
        candidate = f"{base}-{n}"
    fields["slug"] = candidate
    try:
        with uow.conn.transaction():  # a savepoint, so a taken slug is a clear refusal
            event = repo.insert(uow.conn, fields)
    except psycopg.errors.UniqueViolation:
        raise DomainError(f"the slug {candidate!r} is taken: choose another with --slug") from None
    repo.add_organiser(uow.conn, event.id, actor.id, actor.id)
    audit.record(
        uow.conn, "event.created", actor.id, event_id=event.id, details={"capacity": capacity, "status": event.status}
    )
    return event


def update(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    changes: dict[str, str],
    reason: str | None = None,
    allow_past: bool = False,
) -> Event:
    """Change an event's details. Given only a new start, the end moves with it (same length);
    a new start in the past is refused unless `allow_past`, as at create and publish."""
    reason = audit.clean_reason(reason)
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "title":
            parsed[key] = rules.clean_title(value)
        elif key == "location":
            parsed[key] = rules.clean_location(value)
        elif key == "description":
            parsed[key] = rules.clean_description(value)
        elif key in repo.DETAILS:
            parsed[key] = parse_time(value, TIME_OPTIONS[key])
    locked = lock_managed(uow, actor, ref)
    event = locked.event
    if event.status == "cancelled":
        raise DomainError(f"{event.title} is cancelled and can no longer change")
    current = rules.Schedule(event.starts_at, event.ends_at, event.registration_opens_at, event.registration_closes_at)
    if "starts_at" in parsed:
        _refuse_past(parsed["starts_at"], event.title, allow_past)
        if "ends_at" not in parsed:
            parsed["ends_at"] = current.moved_to(parsed["starts_at"]).ends_at
    rules.Schedule(**{**vars(current), **{k: v for k, v in parsed.items() if k in vars(current)}}).check()
    if not parsed:
        return event
    updated = repo.update(uow.conn, locked, parsed)
    audit.record(
        uow.conn,
        "event.updated",
        actor.id,
        event_id=event.id,
        reason=reason,
        details={k: v.isoformat() if isinstance(v, datetime) else v for k, v in parsed.items()},
    )
    return updated


def publish(uow: UnitOfWork, actor: Actor, ref: str, allow_past: bool = False) -> Event:
    locked = lock_managed(uow, actor, ref)
    if locked.event.status != "draft":
        raise DomainError(f"{locked.event.title} is {locked.event.status}, not a draft")
    _refuse_past(locked.event.starts_at, locked.event.title, allow_past)
    event = repo.set_status(uow.conn, locked, "published")
    audit.record(uow.conn, "event.published", actor.id, event_id=event.id)
    return event


def mark_cancelled(
    uow: UnitOfWork, actor: Actor, locked: LockedEvent, reason: str | None, details: dict[str, Any]
) -> Event:
    """The status half of a cancellation; the registration module cancels the seats first."""
    event = repo.set_status(uow.conn, locked, "cancelled")
    audit.record(uow.conn, "event.cancelled", actor.id, event_id=event.id, reason=reason, details=details)
    return event


def listing_query(
    uow: UnitOfWork, actor: Actor | None, scope: str, mine: bool, after: str | None, limit: int | None
) -> tuple[Any, dict[str, Any]]:
    """The events the caller may list (staff also see drafts); `mine`: events they organise."""
    if scope not in SCOPES:
        raise InvalidInput(f"unknown scope {scope[:20]!r}: use one of {', '.join(SCOPES)}")
    if mine and actor is None:
        raise NotLoggedIn("--mine needs a login: run eventreg auth login")
    key = paging.decode(after, datetime.fromisoformat, int)
    position = (key[0], key[1]) if key else None
    organiser = actor.id if mine and actor else None
    return repo.page_query(scope, is_staff(actor), organiser, position, limit, now())


def listing(uow: UnitOfWork, actor: Actor | None, scope: str, mine: bool, after: str | None, limit: int) -> Page[Event]:
    paging.check_limit(limit)
    query, params = listing_query(uow, actor, scope, mine, after, limit + 1)
    return paging.page(repo.run(uow.conn, query, params), limit, lambda e: (e.starts_at.isoformat(), e.id))


# -- organisers ----------------------------------------------------------------------------


def organisers(uow: UnitOfWork, actor: Actor, ref: str) -> list[Organiser]:
    require(actor, STAFF)
    return repo.organisers(uow.conn, visible(uow, actor, ref).id)


def add_organiser(uow: UnitOfWork, actor: Actor, ref: str, user_ref: str) -> Organiser:
    locked = lock_managed(uow, actor, ref)
    user = users.find(uow, user_ref)
    if user.role not in (STAFF, ADMIN) or not user.is_active:
        raise DomainError(f"{user.email} is not active staff: only staff and admins can organise events")
    if not repo.add_organiser(uow.conn, locked.id, user.id, actor.id):
        raise DomainError(f"{user.email} already organises {locked.event.title}")
    audit.record(uow.conn, "event.organiser_added", actor.id, event_id=locked.id, subject_user_id=user.id)
    return next(o for o in repo.organisers(uow.conn, locked.id) if o.user_id == user.id)


def remove_organiser(uow: UnitOfWork, actor: Actor, ref: str, user_ref: str) -> Organiser:
    locked = lock_managed(uow, actor, ref)
    user = users.find(uow, user_ref)
    current = repo.organisers(uow.conn, locked.id)
    gone = next((o for o in current if o.user_id == user.id), None)
    if gone is None:
        raise NotFound(f"{user.email} does not organise {locked.event.title}")
    if len(current) == 1 and not actor.at_least(ADMIN):
        raise DomainError(f"{user.email} is the last organiser of {locked.event.title}: add another first")
    repo.remove_organiser(uow.conn, locked.id, user.id)
    audit.record(uow.conn, "event.organiser_removed", actor.id, event_id=locked.id, subject_user_id=user.id)
    return gone
