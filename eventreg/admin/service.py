"""Administration: admin accounts, roles and access, every registration, imports.

On top of every other module and owner of no table: each change goes through the
module that owns the table (users, auth, registration) and into the audit log.
"""

from __future__ import annotations

from typing import Any

from eventreg import audit, paging, passwords, text
from eventreg.auth import service as auth
from eventreg.config import Settings
from eventreg.db.uow import UnitOfWork
from eventreg.errors import DomainError
from eventreg.roles import ADMIN, Actor, require
from eventreg.users import repository as users_repo
from eventreg.users import service as users
from eventreg.views import AdminUser, Page, User, UserChange


def bootstrap(uow: UnitOfWork, settings: Settings, email: str, name: str, password: str) -> User:
    """The first admin; refused once any admin exists."""
    passwords.check_new_password(password)
    password_hash = passwords.hash_secret(password, settings.bcrypt_rounds)
    users_repo.lock_admin_roster(uow.conn)  # two bootstraps at once: one checks and inserts at a time
    if users_repo.active_admins(uow.conn) > 0:
        raise DomainError("an admin already exists: ask an admin to run eventreg admin create")
    user = users.create(uow, email, name, ADMIN, password_hash)
    audit.record(uow.conn, "admin.bootstrapped", user.id, subject_user_id=user.id)
    return user


def create_admin(
    uow: UnitOfWork, settings: Settings, actor: Actor, email: str, name: str, password: str | None
) -> UserChange:
    """Without a password the new admin gets a one-time reset code instead (shown once)."""
    require(actor, ADMIN)
    password_hash = None
    if password is not None:
        password_hash = passwords.hash_secret(passwords.check_new_password(password), settings.bcrypt_rounds)
    user = users.create(uow, email, name, ADMIN, password_hash)
    audit.record(uow.conn, "admin.created", actor.id, subject_user_id=user.id)
    code = auth.issue_reset_code(uow, settings, actor, user) if password is None else None
    return UserChange(user, "created", reset_code=code)


def list_users(
    uow: UnitOfWork, actor: Actor, role: str | None, search: str | None, after: str | None, limit: int
) -> Page[User]:
    require(actor, ADMIN)
    paging.check_limit(limit)
    role, search = _user_filters(actor, role, search)
    key = paging.decode(after, int)
    rows = users_repo.run(uow.conn, *users_repo.page_query(role, search, key[0] if key else 0, limit + 1))
    return paging.page(rows, limit, lambda u: (u.id,))


def _user_filters(actor: Actor, role: str | None, search: str | None) -> tuple[str | None, str | None]:
    require(actor, ADMIN)
    if role is not None:
        users.clean_role(role)
    if search is not None:
        search = text.line(search, "search text", 200, required=False) or None
    return role, search


def users_export(uow: UnitOfWork, actor: Actor, role: str | None, search: str | None) -> tuple[Any, dict[str, Any]]:
    return users_repo.page_query(*_user_filters(actor, role, search), 0, None)


def show_user(uow: UnitOfWork, actor: Actor, ref: str) -> AdminUser:
    require(actor, ADMIN)
    user = users.find(uow, ref)
    return AdminUser(**vars(user), locked_until=auth.blocked_until(uow, user))


def _guard_last_admin(uow: UnitOfWork, user: User) -> None:
    if user.role == ADMIN and user.is_active and users_repo.active_admins(uow.conn) <= 1:
        raise DomainError(f"{user.email} is the last active admin: make another admin first")


def set_role(uow: UnitOfWork, actor: Actor, ref: str, role: str, reason: str | None = None) -> UserChange:
    require(actor, ADMIN)
    role, reason = users.clean_role(role), audit.clean_reason(reason)
    users_repo.lock_admin_roster(uow.conn)
    user = users.find(uow, ref)
    if user.role == role:
        raise DomainError(f"{user.email} is already {role}")
    if role != ADMIN:
        _guard_last_admin(uow, user)
    changed = users_repo.set_role(uow.conn, user.id, role)
    audit.record(
        uow.conn, "user.role_changed", actor.id, subject_user_id=user.id, reason=reason,
        details={"from": user.role, "to": role},
    )  # fmt: skip
    return UserChange(changed, "role_changed")


def set_active(uow: UnitOfWork, actor: Actor, ref: str, active: bool, reason: str | None = None) -> UserChange:
    """Deactivation ends every session of the user at once."""
    require(actor, ADMIN)
    reason = audit.clean_reason(reason)
    users_repo.lock_admin_roster(uow.conn)
    user = users.find(uow, ref)
    if user.is_active == active:
        raise DomainError(f"{user.email} is already {'active' if active else 'deactivated'}")
    ended = 0
    if not active:
        _guard_last_admin(uow, user)
        ended = auth.end_sessions(uow, user)
    changed = users_repo.set_active(uow.conn, user.id, active)
    action = "user.reactivated" if active else "user.deactivated"
    audit.record(uow.conn, action, actor.id, subject_user_id=user.id, reason=reason)
    return UserChange(changed, "reactivated" if active else "deactivated", revoked_sessions=ended)


def unlock(uow: UnitOfWork, actor: Actor, ref: str, reason: str | None = None) -> UserChange:
    """Lift the limits that failed sign-in and reset attempts put on an account."""
    require(actor, ADMIN)
    reason = audit.clean_reason(reason)
    user = users.find(uow, ref)
    auth.unblock(uow, user)
    audit.record(uow.conn, "user.unlocked", actor.id, subject_user_id=user.id, reason=reason)
    return UserChange(user, "unlocked")


def reset_code(uow: UnitOfWork, settings: Settings, actor: Actor, ref: str) -> UserChange:
    require(actor, ADMIN)
    user = users.find(uow, ref)
    return UserChange(user, "reset_code_issued", reset_code=auth.issue_reset_code(uow, settings, actor, user))
