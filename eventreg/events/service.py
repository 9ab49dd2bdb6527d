"""Events: creation, changes, publication, cancellation, listing.

Staff and admins manage events; students see published ones. Every change to an
event's seats happens under its row lock (`repository.find(..., lock=True)`).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from eventreg.access import STAFF
from eventreg.audit import record
from eventreg.auth.service import Actor, require
from eventreg.errors import DomainError, InvalidInput, NotFound
from eventreg.events import repository as repo
from eventreg.timeparse import now, parse_time

MAX_CAPACITY = 1_000_000
DEFAULT_LENGTH = timedelta(hours=1)
TEXT_LIMITS = {"title": 200, "description": 5000, "location": 200}


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-")
    if not re.search(r"[a-z]", slug):  # a slug needs a letter, so it never reads as an id
        slug = f"event-{slug}".strip("-")
    return slug


def check_slug(slug: str) -> str:
    """The rule of the events_slug_check constraint, checked first for a clear message."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) or len(slug) > 80 or not re.search(r"[a-z]", slug):
        raise InvalidInput(f"a slug is lowercase letters, digits and single dashes, with a letter: {slug[:80]!r}")
    return slug


def check_capacity(capacity: int) -> int:
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(f"capacity must be between 1 and {MAX_CAPACITY:,}, not {capacity}")
    return capacity


def _clean_text(name: str, value: str) -> str:
    cleaned = value.strip()
    if "\x00" in cleaned:
        raise InvalidInput(f"the {name} may not contain NUL characters")
    if len(cleaned) > TEXT_LIMITS[name]:
        raise InvalidInput(f"the {name} may be at most {TEXT_LIMITS[name]} characters")
    if name == "title" and not cleaned:
        raise InvalidInput("the title may not be empty")
    return cleaned


def _check_schedule(fields: dict[str, Any]) -> None:
    if fields["ends_at"] <= fields["starts_at"]:
        raise InvalidInput("the event must end after it starts")
    opens, closes = fields.get("registration_opens_at"), fields.get("registration_closes_at")
    if opens and closes and closes <= opens:
        raise InvalidInput("registration must close after it opens")


def get(conn: Any, ref: str, lock: bool = False) -> dict[str, Any]:
    ref = ref.strip()
    if "\x00" in ref or len(ref) > 80 or not ref.isascii() or (ref.isdigit() and len(ref) > 18):
        raise NotFound(f"no event {ref[:80]!r}")
    event = repo.find(conn, ref, lock=lock)
    if event is None:
        raise NotFound(f"no event {ref[:80]!r}")
    return event


def _is_staff(actor: Actor | None) -> bool:
    return actor is not None and actor.at_least(STAFF)


def visible(conn: Any, actor: Actor | None, ref: str) -> dict[str, Any]:
    """An event the caller may see: drafts only for staff and admins."""
    event = get(conn, ref)
    if event["status"] == "draft" and not _is_staff(actor):
        raise NotFound(f"no event {ref[:80]!r}")
    return event


def create(
    conn: Any,
    actor: Actor,
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
) -> dict[str, Any]:
    import psycopg

    require(actor, STAFF)
    start = parse_time(starts_at, "--starts-at")
    fields: dict[str, Any] = {
        "title": _clean_text("title", title),
        "capacity": check_capacity(capacity),
        "starts_at": start,
        "ends_at": parse_time(ends_at, "--ends-at") if ends_at else start + DEFAULT_LENGTH,
        "location": _clean_text("location", location),
        "description": _clean_text("description", description),
        "registration_opens_at": parse_time(registration_opens, "--registration-opens") if registration_opens else None,
        "registration_closes_at": parse_time(registration_closes, "--registration-closes")
        if registration_closes
        else None,
        "status": "published" if publish else "draft",
        "created_by": actor.id,
    }
    _check_schedule(fields)
    base = check_slug(slug) if slug else slugify(fields["title"])
    candidate, n = base, 1
    while not slug and repo.slug_taken(conn, candidate):
        n += 1
        candidate = f"{base}-{n}"
    fields["slug"] = candidate
    try:
        with conn.transaction():
            event = repo.insert(conn, fields)
            record(
                conn,
                "event.created",
                actor.id,
                event_id=event["id"],
                details={"capacity": capacity, "status": fields["status"]},
            )
    except psycopg.errors.UniqueViolation:
        raise DomainError(f"the slug {candidate!r} is taken: choose another with --slug") from None
    return event


def update(conn: Any, actor: Actor, ref: str, changes: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    """Change details; a capacity change goes through the registration service,
    which promotes from the waitlist in the same transaction."""
    require(actor, STAFF)
    capacity = changes.pop("capacity", None)
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key in TEXT_LIMITS:
            parsed[key] = _clean_text(key, value)
        elif key == "slug":
            parsed[key] = check_slug(value)
        else:
            parsed[key] = parse_time(value, "--" + key.replace("_at", "").replace("_", "-"))
    with conn.transaction():
        event = get(conn, ref, lock=True)
        if event["status"] == "cancelled":
            raise DomainError(f"{event['title']} is cancelled and can no longer change")
        if parsed:
            _check_schedule({**event, **parsed})
            event = repo.update(conn, event["id"], parsed)
            record(
                conn,
                "event.updated",
                actor.id,
                event_id=event["id"],
                reason=reason,
                details={k: str(v) for k, v in parsed.items()},
            )
        if capacity is not None:
            from eventreg.registration import service as registration

            registration.change_capacity(conn, actor, event, capacity, reason)
        return repo.with_waitlist_length(conn, event["id"])


def publish(conn: Any, actor: Actor, ref: str) -> dict[str, Any]:
    require(actor, STAFF)
    with conn.transaction():
        event = get(conn, ref, lock=True)
        if event["status"] != "draft":
            raise DomainError(f"{event['title']} is {event['status']}, not a draft")
        repo.set_status(conn, event["id"], "published")
        record(conn, "event.published", actor.id, event_id=event["id"])
    return get(conn, ref)


def cancel(conn: Any, actor: Actor, ref: str, reason: str | None = None) -> int:
    """Cancel the event and every registration and waitlist place; returns how many."""
    require(actor, STAFF)
    with conn.transaction():
        event = get(conn, ref, lock=True)
        if event["status"] == "cancelled":
            raise DomainError(f"{event['title']} is already cancelled")
        from eventreg.registration import service as registration

        cancelled = registration.cancel_all(conn, actor, event, reason)
        repo.set_status(conn, event["id"], "cancelled")
        record(
            conn,
            "event.cancelled",
            actor.id,
            event_id=event["id"],
            reason=reason,
            details={"registrations_cancelled": cancelled},
        )
    return cancelled


def listing(conn: Any, actor: Actor | None, scope: str = "upcoming", mine: bool = False) -> list[dict[str, Any]]:
    if scope not in ("upcoming", "past", "all"):
        raise InvalidInput(f"unknown scope {scope!r}")
    created_by = actor.id if (mine and actor is not None) else None
    return repo.listing(conn, scope, include_drafts=_is_staff(actor), created_by=created_by, now=now())


def show(conn: Any, actor: Actor | None, ref: str) -> dict[str, Any]:
    event = visible(conn, actor, ref)
    return repo.with_waitlist_length(conn, event["id"])


def event_json(event: dict[str, Any]) -> dict[str, Any]:
    """The stable JSON shape of an event (documented in the README)."""
    return {
        "id": event["id"],
        "slug": event["slug"],
        "title": event["title"],
        "description": event["description"],
        "location": event["location"],
        "status": event["status"],
        "capacity": event["capacity"],
        "registered": event["registered_count"],
        "available": event["capacity"] - event["registered_count"],
        "waitlist": event.get("waitlist_length", 0),
        "starts_at": event["starts_at"],
        "ends_at": event["ends_at"],
        "registration_opens_at": event["registration_opens_at"],
        "registration_closes_at": event["registration_closes_at"],
    }


def registration_open(event: dict[str, Any], at: datetime) -> str | None:
    """Why registration is refused right now, or None when it is open."""
    if event["status"] != "published":
        return f"{event['title']} is {event['status']}: registration is not open"
    if event["starts_at"] <= at:
        return f"{event['title']} has already started"
    if event["registration_opens_at"] and at < event["registration_opens_at"]:
        return f"registration for {event['title']} opens at {event['registration_opens_at'].isoformat()}"
    if event["registration_closes_at"] and at >= event["registration_closes_at"]:
        return f"registration for {event['title']} closed at {event['registration_closes_at'].isoformat()}"
    return None
