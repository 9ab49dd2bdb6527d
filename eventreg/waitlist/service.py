"""The waitlist: joining when full, promotion in order, and staff tools.

Every function that changes a waitlist runs with the event's row locked
(`SELECT ... FOR UPDATE` on events), the same lock registration and cancellation
take, so seats and waitlist places of one event change one transaction at a time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventreg.access import STAFF
from eventreg.audit import record
from eventreg.auth.service import Actor, require
from eventreg.errors import DomainError, InvalidInput, NotFound
from eventreg.events import repository as events_repo
from eventreg.events import service as events
from eventreg.users import service as users
from eventreg.waitlist import repository as repo


def join(conn: Any, event: dict[str, Any], user_id: int, actor_id: int) -> int:
    """Put the user at the end of the waitlist (event row locked by the caller); returns the position."""
    row = repo.insert(conn, event["id"], user_id)
    record(conn, "waitlisted", actor_id, event_id=event["id"], subject_user_id=user_id)
    return repo.position(conn, event["id"], row["waitlist_rank"], row["id"])


def fill_free_seats(conn: Any, event: dict[str, Any], actor_id: int | None, reason: str) -> list[int]:
    """Promote in order until the seats are full or the waitlist is empty.

    Called under the event's row lock, in the transaction that freed the seats.
    `event` must carry the current capacity and registered_count."""
    free = event["capacity"] - event["registered_count"]
    if free <= 0 or event["status"] == "cancelled":
        return []
    promoted = repo.promote_head(conn, event["id"], free)
    if promoted:
        events_repo.add_seats_taken(conn, event["id"], len(promoted))
        for row in promoted:
            record(conn, "promoted", actor_id, event_id=event["id"], subject_user_id=row["user_id"], reason=reason)
    return [row["user_id"] for row in promoted]


def _entry(conn: Any, event: dict[str, Any], user_ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from eventreg.registration import repository as registrations

    user = users.find_user(conn, user_ref)
    row = registrations.live(conn, event["id"], user["id"])
    if row is None or row["status"] != "waitlisted":
        raise NotFound(f"{user['email']} is not on the waitlist of {event['title']}")
    return user, row


def leave(conn: Any, actor: Actor, ref: str) -> None:
    from eventreg.registration import repository as registrations

    with conn.transaction():
        event = events.get(conn, ref, lock=True)
        row = registrations.live(conn, event["id"], actor.id)
        if row is None or row["status"] != "waitlisted":
            raise NotFound(f"you are not on the waitlist of {event['title']}")
        registrations.cancel(conn, row["id"])
        record(conn, "left_waitlist", actor.id, event_id=event["id"], subject_user_id=actor.id)


def remove(conn: Any, actor: Actor, ref: str, user_ref: str, reason: str | None = None) -> dict[str, Any]:
    require(actor, STAFF)
    from eventreg.registration import repository as registrations

    with conn.transaction():
        event = events.get(conn, ref, lock=True)
        user, row = _entry(conn, event, user_ref)
        registrations.cancel(conn, row["id"])
        record(conn, "removed_from_waitlist", actor.id, event_id=event["id"], subject_user_id=user["id"], reason=reason)
    return user


def listing(conn: Any, actor: Actor, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    require(actor, STAFF)
    event = events.get(conn, ref)
    return event, repo.entries(conn, event["id"])


def promote(
    conn: Any, actor: Actor, ref: str, user_ref: str, over_capacity: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """Give a chosen person a seat. With no free seat, only with over_capacity, which
    raises the capacity by one (recorded) so CHECK (registered_count <= capacity) still holds."""
    require(actor, STAFF)
    with conn.transaction():
        event = events.get(conn, ref, lock=True)
        user, row = _entry(conn, event, user_ref)
        if event["registered_count"] >= event["capacity"]:
            if not over_capacity:
                raise DomainError(
                    f"no free seat at {event['title']} ({event['registered_count']}/{event['capacity']}): "
                    "pass --over-capacity to add a seat for this person"
                )
            events_repo.set_capacity(conn, event["id"], event["capacity"] + 1)
            record(
                conn,
                "capacity_changed",
                actor.id,
                event_id=event["id"],
                reason=reason or "over-capacity promotion",
                details={"from": event["capacity"], "to": event["capacity"] + 1, "over_capacity": True},
            )
        repo.promote_one(conn, row["id"])
        events_repo.add_seats_taken(conn, event["id"], 1)
        record(
            conn,
            "promoted",
            actor.id,
            event_id=event["id"],
            subject_user_id=user["id"],
            reason=reason,
            details={"chosen": True, "over_capacity": over_capacity},
        )
    return user


def move(conn: Any, actor: Actor, ref: str, user_ref: str, to: int, reason: str | None = None) -> int:
    """Move a person to position `to` (1 = next to be promoted); returns the new position.

    The new rank lies between the neighbours' ranks, so nobody else is renumbered."""
    require(actor, STAFF)
    if to < 1:
        raise InvalidInput("--to must be 1 or more")
    with conn.transaction():
        event = events.get(conn, ref, lock=True)
        user, row = _entry(conn, event, user_ref)
        target = min(to, repo.length(conn, event["id"]))  # the list keeps its length
        before, at = repo.ranks_around(conn, event["id"], row["id"], target)
        if before is None and at is None:
            rank = row["waitlist_rank"]  # alone on the list
        elif before is None:
            rank = at - 1  # type: ignore[operator]
        elif at is None:
            rank = before + 1
        else:
            rank = (before + at) / Decimal(2)
        repo.set_rank(conn, row["id"], rank)
        record(
            conn,
            "moved",
            actor.id,
            event_id=event["id"],
            subject_user_id=user["id"],
            reason=reason,
            details={"to": target},
        )
    return target
