"""Admin: admin accounts, users, every registration, capacities, imports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from eventreg.access import ADMIN
from eventreg.admin import repository as repo
from eventreg.audit import record
from eventreg.auth import passwords
from eventreg.auth import repository as auth_repo
from eventreg.auth.service import Actor, require
from eventreg.errors import DomainError, InvalidInput
from eventreg.users import service as users

if TYPE_CHECKING:
    from eventreg.config import Settings

STATUSES = ("registered", "waitlisted", "cancelled", "attended")
MAX_PAGE = 10_000


def create_admin(
    conn: Any, settings: Settings, actor: Actor, email: str, name: str, password: str | None
) -> dict[str, Any]:
    """With no password the account cannot log in until a reset code is used."""
    require(actor, ADMIN)
    password_hash = None
    if password is not None:
        passwords.check_password_rules(password)
        password_hash = passwords.hash_secret(password, settings.bcrypt_rounds)
    with conn.transaction():
        user = users.create_user(conn, email, name, ADMIN, password_hash)
        record(conn, "admin.created", actor.id, subject_user_id=user["id"])
    return user


def list_users(
    conn: Any, actor: Actor, role: str | None = None, search: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    require(actor, ADMIN)
    if role is not None:
        users.clean_role(role)
    if search is not None and "\x00" in search:
        raise InvalidInput("--search may not contain NUL characters")
    return repo.list_users(conn, role, search, limit)


def show_user(conn: Any, actor: Actor, ref: str) -> dict[str, Any]:
    require(actor, ADMIN)
    return users.find_user(conn, ref)


def _guard_last_admin(conn: Any, user: dict[str, Any]) -> None:
    if user["role"] == ADMIN and user["is_active"] and repo.count_admins(conn) <= 1:
        raise DomainError(f"{user['email']} is the last active admin: make another admin first")


def set_role(conn: Any, actor: Actor, ref: str, role: str, reason: str | None = None) -> dict[str, Any]:
    require(actor, ADMIN)
    users.clean_role(role)
    with conn.transaction():
        # Serialise admin changes so two demotions cannot both pass the last-admin check.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('eventreg:admin-roles'))")
        user = users.find_user(conn, ref)
        if user["role"] == role:
            raise DomainError(f"{user['email']} is already {role}")
        if role != ADMIN:
            _guard_last_admin(conn, user)
        repo.set_role(conn, user["id"], role)
        record(
            conn,
            "user.role_changed",
            actor.id,
            subject_user_id=user["id"],
            reason=reason,
            details={"from": user["role"], "to": role},
        )
    return {**user, "role": role}


def set_active(conn: Any, actor: Actor, ref: str, active: bool, reason: str | None = None) -> dict[str, Any]:
    """Deactivation revokes every session of the user at once."""
    require(actor, ADMIN)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('eventreg:admin-roles'))")
        user = users.find_user(conn, ref)
        if user["is_active"] == active:
            raise DomainError(f"{user['email']} is already {'active' if active else 'deactivated'}")
        if not active:
            _guard_last_admin(conn, user)
            auth_repo.revoke_all(conn, user["id"])
        repo.set_active(conn, user["id"], active)
        record(
            conn,
            "user.reactivated" if active else "user.deactivated",
            actor.id,
            subject_user_id=user["id"],
            reason=reason,
        )
    return {**user, "is_active": active}


def unlock(conn: Any, actor: Actor, ref: str, reason: str | None = None) -> dict[str, Any]:
    require(actor, ADMIN)
    with conn.transaction():
        user = users.find_user(conn, ref)
        auth_repo.clear_failures(conn, user["id"])
        record(conn, "user.unlocked", actor.id, subject_user_id=user["id"], reason=reason)
    return user


def registrations(
    conn: Any,
    actor: Actor,
    event: str | None = None,
    user: str | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    require(actor, ADMIN)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"--limit must be between 1 and {MAX_PAGE}")
    if after < 0:
        raise InvalidInput("--after must be 0 or more")
    from eventreg.events import service as events

    event_id = events.get(conn, event)["id"] if event else None
    user_id = users.find_user(conn, user)["id"] if user else None
    return repo.registrations_page(conn, event_id, user_id, status, after, limit)


def all_registrations(
    conn: Any, actor: Actor, event: str | None, user: str | None, status: str | None, page: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every matching row, fetched page by page with the same keyset."""
    after = 0
    while True:
        rows = registrations(conn, actor, event, user, status, after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1]["id"]


def set_capacity(conn: Any, actor: Actor, ref: str, capacity: int, reason: str | None = None) -> list[int]:
    require(actor, ADMIN)
    from eventreg.registration import service as registration

    return registration.set_capacity(conn, actor, ref, capacity, reason)
