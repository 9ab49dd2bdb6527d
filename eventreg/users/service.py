"""Users: the rules for names, emails and roles; creating, finding and renaming people.

Anything that can recover an account (email, password, security questions) is
changed through `auth.service`, which asks for the current password and ends the
other sessions.
"""

from __future__ import annotations

import psycopg

from eventreg import audit, text
from eventreg.db.uow import UnitOfWork
from eventreg.errors import DomainError, InvalidInput, NotFound
from eventreg.roles import ROLES, Actor
from eventreg.users import repository as repo
from eventreg.views import Profile, Promoted, User

MAX_NAME = 200


def clean_email(email: str) -> str:
    return text.email(email)


def clean_name(name: str) -> str:
    return text.line(name, "name", MAX_NAME, collapse=True)


def clean_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {text.for_terminal(role[:40])!r}: use one of {', '.join(ROLES)}")
    return role


def create(uow: UnitOfWork, email: str, name: str, role: str, password_hash: str | None) -> User:
    """Insert a user; a second account for an address (in any case) is refused by the unique index."""
    email, name, role = clean_email(email), clean_name(name), clean_role(role)
    try:
        with uow.conn.transaction():  # a savepoint: the caller's transaction survives a duplicate
            return repo.insert(uow.conn, email, name, role, password_hash)
    except psycopg.errors.UniqueViolation:
        raise DomainError(f"an account with the email {email} already exists") from None


def find(uow: UnitOfWork, ref: str) -> User:
    """A user by id (digits) or email."""
    ref = ref.strip()
    user = None
    if ref.isascii() and ref.isdigit():
        if len(ref) <= 18:
            user = repo.by_id(uow.conn, int(ref))
    elif len(ref) <= text.MAX_EMAIL and not text.UNSAFE.search(ref):
        user = repo.by_email(uow.conn, ref)
    if user is None:
        raise NotFound(f"no user {text.for_terminal(ref[:80])!r}")
    return user


def people(uow: UnitOfWork, ids: list[int]) -> list[Promoted]:
    """Who these ids are (email, name), in the order given."""
    found = {u.id: u for u in repo.by_ids(uow.conn, ids)} if ids else {}
    return [Promoted(found[i].email, found[i].name) for i in ids if i in found]


def profile(uow: UnitOfWork, actor: Actor) -> Profile:
    user = repo.by_id(uow.conn, actor.id)
    if user is None:
        raise NotFound("your account no longer exists")
    questions = [q["text"] for q in repo.questions(uow.conn, actor.id)]
    return Profile(**vars(user), security_questions=questions)


def rename(uow: UnitOfWork, actor: Actor, name: str) -> User:
    user = repo.set_name(uow.conn, actor.id, clean_name(name))
    audit.record(uow.conn, "user.renamed", actor.id, subject_user_id=actor.id)
    return user
