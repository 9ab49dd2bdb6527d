"""The waitlist: joining in order, leaving, staff moves and removals, promotion of the head.

Below registration: registration decides when seats are free and calls
`promote_head` in the same transaction; nothing here calls back up. Every change
runs under the event's row lock, taken through `events.service.lock`, the same
lock registration takes, so places and seats of one event change one transaction
at a time and a promotion always goes to the first person in line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventreg import audit, paging
from eventreg.db.uow import UnitOfWork
from eventreg.errors import InvalidInput, NotFound
from eventreg.events import service as events
from eventreg.events.repository import LockedEvent
from eventreg.roles import Actor
from eventreg.users import service as users
from eventreg.views import Page, Promoted, User, WaitlistChange, WaitlistEntry
from eventreg.waitlist import repository as repo


def promote_head(uow: UnitOfWork, locked: LockedEvent, seats: int, actor_id: int | None, reason: str) -> list[Promoted]:
    """Give up to `seats` free seats to the people at the head of the line, in order."""
    if seats <= 0 or locked.event.waitlist == 0 or locked.event.status == "cancelled":
        return []
    return repo.promote(uow.conn, locked, seats, actor_id, reason)


def _place(uow: UnitOfWork, locked: LockedEvent, user: User) -> int:
    """The registration id of a person's place; NotFound when they are not waiting."""
    place = repo.place(uow.conn, locked, user.id)
    if place is None:
        raise NotFound(f"{user.email} is not on the waitlist of {locked.event.title}")
    return int(place["id"])


def move(uow: UnitOfWork, actor: Actor, ref: str, user_ref: str, to: int, reason: str | None = None) -> WaitlistChange:
    """Move a person to position `to` (1 = next in line). The new rank lies between the
    new neighbours' ranks, so nobody else is renumbered."""
    reason = audit.clean_reason(reason)
    if not 1 <= to <= 10_000_000:
        raise InvalidInput("--to must be a position from 1")
    locked = events.lock_managed(uow, actor, ref)
    user = users.find(uow, user_ref)
    registration_id = _place(uow, locked, user)
    target = min(to, locked.event.waitlist)  # the line keeps its length
    before, at = repo.ranks_around(uow.conn, locked, registration_id, target)
    if before is None and at is None:
        return WaitlistChange(locked.event.slug, locked.event.title, user.email, "moved", 1)  # alone in line
    if before is None:
        rank = at - Decimal(1)  # type: ignore[operator]
    elif at is None:  # last: the rank a newcomer would get now, so the next one lines up behind
        rank = repo.next_rank(uow.conn)
    else:
        rank = (before + at) / Decimal(2)
    repo.set_rank(uow.conn, locked, registration_id, rank)
    audit.record(
        uow.conn, "moved", actor.id, event_id=locked.id, subject_user_id=user.id, reason=reason, details={"to": target}
    )
    return WaitlistChange(locked.event.slug, locked.event.title, user.email, "moved", target)


def take_place(uow: UnitOfWork, locked: LockedEvent, user: User) -> int:
    """The registration id of a person's place, for a chosen promotion (registration module)."""
    return _place(uow, locked, user)


def turn_into_seat(uow: UnitOfWork, locked: LockedEvent, registration_id: int) -> None:
    repo.promote_one(uow.conn, locked, registration_id)


def entries(uow: UnitOfWork, actor: Actor, ref: str, after: str | None, limit: int) -> Page[WaitlistEntry]:
    event = events.managed(uow, actor, ref)  # who may see comes before what they asked for
    paging.check_limit(limit)
    key = paging.decode(after, Decimal, int, int)
    position = (key[0], key[1], key[2]) if key else None
    rows = repo.entries(uow.conn, event.id, position, limit + 1)
    page = paging.page(rows, limit, lambda r: (r["waitlist_rank"], r["id"], r["position"]))
    fields = ("position", "user_id", "email", "name", "joined_at")
    return Page([WaitlistEntry(**{k: r[k] for k in fields}) for r in page.items], page.next)


def entries_export(uow: UnitOfWork, actor: Actor, ref: str) -> tuple[Any, dict[str, Any]]:
    return repo.entries_query(events.managed(uow, actor, ref).id, None, None)
