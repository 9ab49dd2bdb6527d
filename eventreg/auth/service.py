"""Who is asking: sign-up, sign-in, sessions, and everything that can recover an account.

Guessing is limited per path (login, security questions, reset code) and per
address as typed, counted in the database before the secret is checked (see
`_count_attempt`), so parallel attempts can never exceed the limit, and an unknown
address behaves exactly like a real one: same messages, same limits, same bcrypt
work. The paths are counted apart, so failed reset-code tries never block a
password sign-in. What can recover an account (password, email, security
questions) changes only with the current password, is written to the audit log,
and ends every other session.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import psycopg

from eventreg import audit, passwords
from eventreg.auth import repository as repo
from eventreg.auth import tokens
from eventreg.config import Settings
from eventreg.db.uow import UnitOfWork
from eventreg.errors import DomainError, InvalidInput, NotLoggedIn, TooManyAttempts
from eventreg.roles import ADMIN, STUDENT, Actor, require
from eventreg.timeparse import utc
from eventreg.users import repository as users_repo
from eventreg.users import service as users
from eventreg.views import Login, Question, ResetCode, SessionInfo, User

MAX_ATTEMPTS = 5  # per path and address in one window
MAX_CLIENT_ATTEMPTS = 30  # per client address (the server), whatever the addresses tried
MAX_SIGNUPS_PER_CLIENT = 100  # accounts made from one client address (the server) in one window
WINDOW = timedelta(minutes=15)
QUESTIONS = 2  # everyone answers exactly two catalogue questions
RESET_CODE_HOURS = 24
ACCOUNT_PATHS = ("login", "questions", "code")

BAD_LOGIN = "wrong email or password"
BAD_RESET = "the email, the answers or the code do not match our records"
NOT_LOGGED_IN = "not logged in: run eventreg auth login"


# -- sessions --------------------------------------------------------------------------


def authenticate(uow: UnitOfWork, settings: Settings, token: str | None) -> Actor:
    """Check the signature, the expiry, the session row and the account; the role comes from the database."""
    if not token:
        raise NotLoggedIn(NOT_LOGGED_IN)
    claims = tokens.decode(settings.secret(), token)
    row = repo.session_with_user(uow.conn, claims["jti"])
    if row is None or str(row["user_id"]) != claims["sub"]:
        raise NotLoggedIn("this session is not known here: run eventreg auth login")
    if row["revoked_at"] is not None or row["expires_at"] <= datetime.now(UTC):
        raise NotLoggedIn(tokens.EXPIRED)
    if not row["is_active"]:
        raise NotLoggedIn("this account is deactivated")
    return Actor(row["user_id"], row["email"], row["name"], row["role"], claims["jti"])


def session_info(uow: UnitOfWork, actor: Actor) -> SessionInfo:
    row = repo.session_with_user(uow.conn, actor.session)
    assert row is not None  # authenticate found it in this transaction
    return SessionInfo(actor.id, actor.email, actor.name, actor.role, row["expires_at"])


def _count_attempt(uow: UnitOfWork, settings: Settings, path: str, email: str, client: str | None) -> None:
    """Count this attempt, commit the count, and refuse when over the limit; all before any
    secret is checked, so that N attempts sent at once are N counted attempts."""
    repo.forget_old_attempts(uow.conn, WINDOW)
    attempts, window_ends = repo.count_attempt(uow.conn, path, email.lower(), WINDOW)
    account_over = attempts > MAX_ATTEMPTS
    client_over = False
    if client is not None:
        client_attempts, client_ends = repo.count_attempt(uow.conn, "client", client[:320], WINDOW)
        if client_attempts > MAX_CLIENT_ATTEMPTS:
            client_over, window_ends = True, max(window_ends, client_ends)
    uow.commit()  # the count stands whatever happens next
    if account_over and not client_over:  # as slow as a real check: a held account is timed like any other
        passwords.verify("-", None, settings.bcrypt_rounds)
    if account_over or client_over:  # an address over its own limit learns nothing of accounts: no bcrypt
        _too_many(window_ends)


def _too_many(window_ends: datetime) -> NoReturn:
    wait = max(1, math.ceil((window_ends - datetime.now(UTC)).total_seconds()))
    raise TooManyAttempts(f"too many attempts: try again after {utc(window_ends)}", retry_after=wait)


def login(
    work: Callable[[], AbstractContextManager[UnitOfWork]],
    settings: Settings,
    email: str,
    password: str,
    client: str | None = None,
    replaced: str | None = None,
) -> Login:
    """Sign in, in two units of work with bcrypt between them, holding no connection: a crowd
    signing in at nine does not keep a server's few pooled connections busy for 0.2 s each.
    The second one only opens a session if the password is still the one checked (see
    repository.insert_session). `replaced`: the token this client held, whose session ends."""
    passwords.check_password(password)
    email = users.clean_email(email)
    with work() as uow:
        _count_attempt(uow, settings, "login", email, client)
        found = users_repo.with_password_hash(uow.conn, email)
    user, hashed = found if found else (None, None)
    matches = passwords.verify(password, hashed, settings.bcrypt_rounds)
    if user is None or hashed is None or not matches or not user.is_active:
        raise NotLoggedIn(BAD_LOGIN)
    with work() as uow:
        # The attempt rows before the user row, in the order a password change takes them, so
        # the two never wait for each other in a circle; all undone if the insert finds no row.
        repo.clear_attempts(uow.conn, email.lower(), ("login",))
        _refund_client(uow, client)
        token, claims = tokens.issue(settings.secret(), user.id, user.role, settings.token_hours)
        if not repo.insert_session(uow.conn, claims["jti"], user.id, claims["exp"], hashed):
            raise NotLoggedIn(BAD_LOGIN)  # the password changed, or the account was deactivated, meanwhile
        if replaced:
            revoke_token(uow, settings, replaced)
    return Login(token=token, expires_at=claims["exp"], user=user)


def _refund_client(uow: UnitOfWork, client: str | None) -> None:
    """A success gives its attempt back to the client address: the per-address limit is for
    guessing, so people signing in behind one NAT or proxy do not use it up."""
    if client is not None:
        repo.refund_attempt(uow.conn, "client", client[:320])


def revoke_token(uow: UnitOfWork, settings: Settings, token: str) -> None:
    """End the session of a token this client is replacing (a login as someone else)."""
    try:
        claims = tokens.decode(settings.secret(), token)
    except NotLoggedIn:
        return  # expired or foreign: nothing to end
    repo.revoke_session(uow.conn, claims["jti"])


def logout(uow: UnitOfWork, actor: Actor, everywhere: bool = False) -> int:
    """End this session, or every session of the user; returns how many ended."""
    if everywhere:
        ended = repo.revoke_all(uow.conn, actor.id)
        audit.record(uow.conn, "user.logged_out_everywhere", actor.id, subject_user_id=actor.id)
        return ended
    return repo.revoke_session(uow.conn, actor.session)


# -- sign-up and the questions ------------------------------------------------------------


def catalogue(uow: UnitOfWork) -> list[Question]:
    return users_repo.catalogue(uow.conn)


def check_questions(uow: UnitOfWork, pairs: list[tuple[int, str]]) -> None:
    """Exactly two different catalogue questions, each with an answer."""
    keys = {q.key for q in users_repo.catalogue(uow.conn)}
    if len(pairs) != QUESTIONS:
        raise InvalidInput(f"choose exactly {QUESTIONS} security questions (see: eventreg auth questions)")
    if len({key for key, _ in pairs}) != QUESTIONS:
        raise InvalidInput("choose two different security questions")
    for key, answer in pairs:
        if key not in keys:
            raise InvalidInput(f"there is no security question {key} (see: eventreg auth questions)")
        passwords.check_answer(answer)


def clean_questions(uow: UnitOfWork, settings: Settings, pairs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The checked questions with their answers hashed: (key, answer hash)."""
    check_questions(uow, pairs)
    return [
        (key, passwords.hash_secret(passwords.check_answer(answer), settings.bcrypt_rounds)) for key, answer in pairs
    ]


def sign_up(
    uow: UnitOfWork,
    settings: Settings,
    email: str,
    name: str,
    password: str,
    pairs: list[tuple[int, str]],
    client: str | None = None,
) -> User:
    # Everything that costs nothing first: bcrypt (three hashes here) runs only for a
    # sign-up that will succeed, and an address gets MAX_SIGNUPS_PER_CLIENT of those a window.
    passwords.check_new_password(password)
    email, name = users.clean_email(email), users.clean_name(name)
    check_questions(uow, pairs)
    if client is not None:
        signups, window_ends = repo.count_attempt(uow.conn, "signup", client[:320], WINDOW)
        uow.commit()  # counted even if what follows fails
        if signups > MAX_SIGNUPS_PER_CLIENT:
            _too_many(window_ends)
    if users_repo.by_email(uow.conn, email) is not None:  # the unique index decides a race below
        raise DomainError(f"an account with the email {email} already exists")
    hashed = clean_questions(uow, settings, pairs)
    user = users.create(uow, email, name, STUDENT, passwords.hash_secret(password, settings.bcrypt_rounds))
    users_repo.replace_questions(uow.conn, user.id, hashed)
    audit.record(uow.conn, "user.created", user.id, subject_user_id=user.id, details={"role": STUDENT})
    return user


# -- changes that can recover an account -------------------------------------------------


def _check_current_password(uow: UnitOfWork, settings: Settings, actor: Actor, password: str) -> None:
    passwords.check_password(password)
    _count_attempt(uow, settings, "login", actor.email, None)
    if not passwords.verify(password, users_repo.password_hash(uow.conn, actor.id), settings.bcrypt_rounds):
        raise NotLoggedIn("the current password is wrong")
    repo.clear_attempts(uow.conn, actor.email.lower(), ("login",))


def change_password(uow: UnitOfWork, settings: Settings, actor: Actor, current: str, new: str) -> int:
    """Returns how many other sessions were ended."""
    passwords.check_new_password(new)
    _check_current_password(uow, settings, actor, current)
    users_repo.set_password_hash(uow.conn, actor.id, passwords.hash_secret(new, settings.bcrypt_rounds))
    audit.record(uow.conn, "user.password_changed", actor.id, subject_user_id=actor.id)
    return repo.revoke_all(uow.conn, actor.id, keep_jti=actor.session)


def change_email(uow: UnitOfWork, settings: Settings, actor: Actor, current: str, new_email: str) -> tuple[User, int]:
    new_email = users.clean_email(new_email)
    _check_current_password(uow, settings, actor, current)
    try:
        with uow.conn.transaction():
            user = users_repo.set_email(uow.conn, actor.id, new_email)
    except psycopg.errors.UniqueViolation:
        raise DomainError(f"an account with the email {new_email} already exists") from None
    audit.record(
        uow.conn,
        "user.email_changed",
        actor.id,
        subject_user_id=actor.id,
        details={"from": actor.email, "to": new_email},
    )
    return user, repo.revoke_all(uow.conn, actor.id, keep_jti=actor.session)


def set_questions(uow: UnitOfWork, settings: Settings, actor: Actor, current: str, pairs: list[tuple[int, str]]) -> int:
    hashed = clean_questions(uow, settings, pairs)
    _check_current_password(uow, settings, actor, current)
    users_repo.replace_questions(uow.conn, actor.id, hashed)
    audit.record(
        uow.conn, "user.questions_changed", actor.id, subject_user_id=actor.id, details={"keys": [k for k, _ in pairs]}
    )
    return repo.revoke_all(uow.conn, actor.id, keep_jti=actor.session)


# -- resets --------------------------------------------------------------------------------


def _decoys(settings: Settings, email: str, catalogue: list[Question]) -> list[Question]:
    """Two catalogue questions chosen by a keyed hash of the address: the same on every
    try, unguessable without the secret, and drawn from what real accounts choose from."""
    digest = hmac.new(settings.secret().encode(), email.lower().encode(), hashlib.sha256).digest()
    first = digest[0] % len(catalogue)
    second = (first + 1 + digest[1] % (len(catalogue) - 1)) % len(catalogue)
    return sorted([catalogue[first], catalogue[second]], key=lambda q: q.key)


def reset_questions(uow: UnitOfWork, settings: Settings, email: str) -> list[Question]:
    """The two questions to answer: the account's own, or decoys that look the same."""
    email = users.clean_email(email)
    user = users_repo.by_email(uow.conn, email)
    own = users_repo.questions(uow.conn, user.id) if user else []
    if len(own) == QUESTIONS:
        return sorted((Question(q["key"], q["text"]) for q in own), key=lambda q: q.key)
    return _decoys(settings, email, users_repo.catalogue(uow.conn))


def reset_with_answers(
    uow: UnitOfWork, settings: Settings, email: str, answers: list[str], new: str, client: str | None = None
) -> None:
    passwords.check_new_password(new)
    email = users.clean_email(email)
    if len(answers) != QUESTIONS:
        raise InvalidInput(f"give the answers to the {QUESTIONS} questions, in the order they were asked")
    _count_attempt(uow, settings, "questions", email, client)
    user = users_repo.by_email(uow.conn, email)
    stored = sorted(users_repo.questions(uow.conn, user.id), key=lambda q: q["key"]) if user else []
    hashes: list[str | None] = [q["answer_hash"] for q in stored] if len(stored) == QUESTIONS else [None, None]
    # Every answer is checked, even after a wrong one: the same work whatever matches.
    matches = [
        passwords.verify(passwords.normalise_answer(a), h, settings.bcrypt_rounds)
        for a, h in zip(answers, hashes, strict=True)
    ]
    if user is None or not all(matches) or not user.is_active:
        raise NotLoggedIn(BAD_RESET)
    _set_password_after_reset(uow, settings, user, new, "questions")
    _refund_client(uow, client)


def issue_reset_code(uow: UnitOfWork, settings: Settings, actor: Actor, user: User) -> ResetCode:
    """A one-time code, shown once and kept as a bcrypt hash, valid for 24 hours."""
    require(actor, ADMIN)
    code = "-".join(secrets.token_hex(3) for _ in range(3))
    expires = repo.put_reset_code(
        uow.conn, user.id, passwords.hash_secret(code, settings.bcrypt_rounds), actor.id, RESET_CODE_HOURS
    )
    repo.clear_attempts(uow.conn, user.email.lower(), ("code",))  # earlier guesses cannot block the new code
    audit.record(uow.conn, "user.reset_code_issued", actor.id, subject_user_id=user.id)
    return ResetCode(email=user.email, code=code, expires_at=expires)


def reset_with_code(
    uow: UnitOfWork, settings: Settings, email: str, code: str, new: str, client: str | None = None
) -> None:
    passwords.check_new_password(new)
    email = users.clean_email(email)
    _count_attempt(uow, settings, "code", email, client)
    user = users_repo.by_email(uow.conn, email)
    stored = repo.live_reset_code(uow.conn, user.id) if user else None
    matches = passwords.verify(code.strip(), stored, settings.bcrypt_rounds)
    if user is None or not matches or not user.is_active:
        raise NotLoggedIn(BAD_RESET)
    repo.drop_reset_code(uow.conn, user.id)
    _set_password_after_reset(uow, settings, user, new, "code")
    _refund_client(uow, client)


def _set_password_after_reset(uow: UnitOfWork, settings: Settings, user: User, new: str, by: str) -> None:
    repo.clear_attempts(uow.conn, user.email.lower(), ACCOUNT_PATHS)  # before the user row, as sign-in does
    users_repo.set_password_hash(uow.conn, user.id, passwords.hash_secret(new, settings.bcrypt_rounds))
    repo.revoke_all(uow.conn, user.id)
    audit.record(uow.conn, "user.password_reset", user.id, subject_user_id=user.id, details={"by": by})


# -- for admins ------------------------------------------------------------------------------


def blocked_until(uow: UnitOfWork, user: User) -> datetime | None:
    return repo.blocked_until(uow.conn, user.email.lower(), MAX_ATTEMPTS, WINDOW)


def unblock(uow: UnitOfWork, user: User) -> None:
    repo.clear_attempts(uow.conn, user.email.lower(), ACCOUNT_PATHS)


def end_sessions(uow: UnitOfWork, user: User) -> int:
    return repo.revoke_all(uow.conn, user.id)
