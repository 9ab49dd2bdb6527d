"""Users: validation, creation, profiles and security questions."""

from __future__ import annotations

import re
from typing import Any

from eventreg.auth.passwords import check_answer_rules, hash_secret
from eventreg.errors import DomainError, InvalidInput, NotFound
from eventreg.users import repository as repo

ROLES = ("student", "staff", "admin")
MIN_QUESTIONS = 2
MAX_NAME = 200
MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_email(email: str) -> str:
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email) or "\x00" in email:
        raise InvalidInput(f"not a valid email address: {email[:80]!r}")
    return email


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("a name may not be empty")
    if len(name) > MAX_NAME or "\x00" in name:
        raise InvalidInput(f"a name may be at most {MAX_NAME} characters, without NUL")
    return name


def clean_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def clean_questions(pairs: list[tuple[str, str]], rounds: int) -> list[tuple[str, str]]:
    """Validate question/answer pairs and hash the normalised answers."""
    if len(pairs) < MIN_QUESTIONS:
        raise InvalidInput(f"set at least {MIN_QUESTIONS} security questions")
    seen: set[str] = set()
    hashed = []
    for question, answer in pairs:
        question = " ".join(question.split())
        if not 3 <= len(question) <= 200 or "\x00" in question:
            raise InvalidInput("a security question needs 3 to 200 characters")
        if question.casefold() in seen:
            raise InvalidInput(f"the question {question!r} is given twice")
        seen.add(question.casefold())
        hashed.append((question, hash_secret(check_answer_rules(answer), rounds)))
    return hashed


def create_user(
    conn: Any,
    email: str,
    name: str,
    role: str,
    password_hash: str | None,
    questions: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Insert a user (and hashed questions) inside the caller's transaction."""
    import psycopg

    try:
        with conn.transaction():
            user = repo.insert_user(conn, clean_email(email), clean_name(name), clean_role(role), password_hash)
            if questions:
                repo.replace_questions(conn, user["id"], questions)
    except psycopg.errors.UniqueViolation:
        raise DomainError(f"an account with the email {email.strip()} already exists") from None
    return user


def get_user(conn: Any, user_id: int) -> dict[str, Any]:
    user = repo.by_id(conn, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def find_user(conn: Any, ref: str) -> dict[str, Any]:
    """A user by id or email."""
    if "\x00" in ref or len(ref) > MAX_EMAIL:
        raise NotFound(f"no user {ref[:80]!r}")
    numeric = ref.isascii() and ref.isdigit() and len(ref) <= 18
    user = repo.by_id(conn, int(ref)) if numeric else repo.by_email(conn, ref.strip())
    if user is None:
        raise NotFound(f"no user {ref!r}")
    user.pop("password_hash", None)
    return user


def profile(conn: Any, user_id: int) -> dict[str, Any]:
    user = get_user(conn, user_id)
    user["security_questions"] = [q["question"] for q in repo.questions(conn, user_id)]
    return user


def rename(conn: Any, user_id: int, name: str) -> dict[str, Any]:
    with conn.transaction():
        return repo.update_name(conn, user_id, clean_name(name))


def set_questions(conn: Any, user_id: int, hashed_pairs: list[tuple[str, str]]) -> None:
    with conn.transaction():
        repo.replace_questions(conn, user_id, hashed_pairs)
