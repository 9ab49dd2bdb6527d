"""Sign-up, sign-in, sessions, password change and reset, and the role check.

`authenticate` is the one place that decides whether the caller may run a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventreg.access import ADMIN, ROLE_RANK
from eventreg.audit import record
from eventreg.auth import passwords, tokens
from eventreg.auth import repository as repo
from eventreg.errors import DomainError, NotLoggedIn, PermissionDenied
from eventreg.users import repository as users_repo
from eventreg.users import service as users

if TYPE_CHECKING:
    from eventreg.config import Settings

MAX_FAILURES = 5
LOCK_MINUTES = 15
BAD_LOGIN = "wrong email or password"
BAD_RESET = "those answers do not match our records"
# Shown for an unknown email during reset, so the questions reveal nothing.
DECOY_POOL = (
    "What is your favourite colour?",
    "What was your first pet's name?",
    "In which city were you born?",
    "What was the name of your first school?",
    "What is your mother's maiden name?",
    "What was the make of your first car?",
    "What is your favourite book?",
    "What was your childhood nickname?",
)


@dataclass(frozen=True)
class Actor:
    id: int
    email: str
    name: str
    role: str
    jti: str

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def authenticate(conn: Any, settings: Settings, token: str | None, required: str) -> Actor:
    """Verify signature, expiry, the session row and the user; then the role, from the database."""
    if not token:
        raise NotLoggedIn("not logged in: run eventreg auth login")
    claims = tokens.decode(settings.secret(), token)
    row = repo.session_with_user(conn, claims["jti"])
    if row is None or str(row["user_id"]) != claims["sub"]:
        raise NotLoggedIn("the session is not known to this database: run eventreg auth login")
    if row["revoked_at"] is not None:
        raise NotLoggedIn(tokens.EXPIRED)
    if row["expires_at"] <= datetime.now(UTC):
        raise NotLoggedIn(tokens.EXPIRED)
    if not row["is_active"]:
        raise NotLoggedIn("this account is deactivated")
    actor = Actor(row["user_id"], row["email"], row["name"], row["role"], str(row["jti"]))
    if not actor.at_least(required):
        raise PermissionDenied(f"this command needs the {required} role; you are {actor.role}")
    return actor


def require(actor: Actor, role: str) -> None:
    if not actor.at_least(role):
        raise PermissionDenied(f"this needs the {role} role; you are {actor.role}")


def sign_up(
    conn: Any,
    settings: Settings,
    email: str,
    name: str,
    password: str,
    questions: list[tuple[str, str]],
    role: str = "student",
    actor_id: int | None = None,
) -> dict[str, Any]:
    passwords.check_password_rules(password)
    hashed_questions = users.clean_questions(questions, settings.bcrypt_rounds) if questions else []
    with conn.transaction():
        user = users.create_user(
            conn, email, name, role, passwords.hash_secret(password, settings.bcrypt_rounds), hashed_questions
        )
        record(conn, "user.created", actor_id or user["id"], subject_user_id=user["id"], details={"role": role})
    return user


def bootstrap_admin(conn: Any, settings: Settings, email: str, name: str, password: str) -> dict[str, Any]:
    """Create the first admin; refused once any admin exists."""
    passwords.check_password_rules(password)
    password_hash = passwords.hash_secret(password, settings.bcrypt_rounds)
    with conn.transaction():
        # Two bootstraps at once: this transaction-level advisory lock lets one check-and-insert at a time.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('eventreg:bootstrap-admin'))")
        if users_repo.admin_exists(conn):
            raise DomainError("an admin already exists: ask an admin to run eventreg admin create")
        user = users.create_user(conn, email, name, ADMIN, password_hash)
        record(conn, "admin.bootstrapped", user["id"], subject_user_id=user["id"])
    return user


def _fail(conn: Any, user_id: int, kind: str) -> None:
    """Record a failure in its own transaction, and lock the account at the limit."""
    with conn.transaction():
        if repo.record_failure(conn, user_id, kind) >= MAX_FAILURES:
            repo.lock_user(conn, user_id, LOCK_MINUTES)
            record(conn, "user.locked", None, subject_user_id=user_id, details={"after": kind})


def _locked_message(until: Any) -> str:
    from eventreg.output import local_time

    return f"too many failed attempts: the account is locked until {local_time(until)}"


def login(conn: Any, settings: Settings, email: str, password: str) -> tuple[str, dict[str, Any]]:
    user = users_repo.by_email(conn, email.strip())
    if user is None or not user["is_active"] or user["password_hash"] is None:
        passwords.verify_secret(password, None)  # same cost as a real check
        raise NotLoggedIn(BAD_LOGIN)
    until = repo.is_locked(conn, user["id"])
    if until is not None:
        raise NotLoggedIn(_locked_message(until))
    if not passwords.verify_secret(password, user["password_hash"]):
        _fail(conn, user["id"], "login")
        raise NotLoggedIn(BAD_LOGIN)
    token, claims = tokens.issue(settings.secret(), user["id"], user["role"], settings.token_hours)
    with conn.transaction():
        repo.insert_session(conn, claims["jti"], user["id"], claims["exp"])
        repo.clear_failures(conn, user["id"])
    user.pop("password_hash", None)
    return token, {**user, "expires_at": claims["exp"]}


def session_info(conn: Any, settings: Settings, token: str) -> dict[str, Any]:
    claims = tokens.decode(settings.secret(), token)
    actor = authenticate(conn, settings, token, "student")
    return {
        "id": actor.id,
        "email": actor.email,
        "name": actor.name,
        "role": actor.role,
        "expires_at": datetime.fromtimestamp(claims["exp"], UTC),
    }


def logout(conn: Any, actor: Actor) -> None:
    with conn.transaction():
        repo.revoke_session(conn, actor.jti)


def change_password(conn: Any, settings: Settings, actor: Actor, old: str, new: str) -> int:
    """Returns how many other sessions were revoked."""
    if not passwords.verify_secret(old, users_repo.password_hash(conn, actor.id)):
        _fail(conn, actor.id, "login")
        raise NotLoggedIn("the current password is wrong")
    passwords.check_password_rules(new)
    with conn.transaction():
        users_repo.set_password_hash(conn, actor.id, passwords.hash_secret(new, settings.bcrypt_rounds))
        revoked = repo.revoke_all(conn, actor.id, keep_jti=actor.jti)
        record(conn, "user.password_changed", actor.id, subject_user_id=actor.id)
    return revoked


def decoy_questions(settings: Settings, email: str) -> list[str]:
    """Two questions for an account that has none (or does not exist). Keyed on the
    secret and the email, so asking twice gives the same ones, as for a real account."""
    import hashlib
    import hmac

    digest = hmac.new(settings.secret().encode(), email.strip().lower().encode(), hashlib.sha256).digest()
    first = digest[0] % len(DECOY_POOL)
    second = (first + 1 + digest[1] % (len(DECOY_POOL) - 1)) % len(DECOY_POOL)
    return [DECOY_POOL[first], DECOY_POOL[second]]


def reset_questions(conn: Any, settings: Settings, email: str) -> list[str]:
    """The questions to ask; decoys for an unknown email, so nothing is revealed."""
    user = users_repo.by_email(conn, email.strip())
    found = [q["question"] for q in users_repo.questions(conn, user["id"])] if user else []
    return found or decoy_questions(settings, email)


def reset_password(conn: Any, settings: Settings, email: str, answers: list[str], new: str) -> None:
    passwords.check_password_rules(new)
    user = users_repo.by_email(conn, email.strip())
    stored = users_repo.questions(conn, user["id"]) if user else []
    if user is None or not stored or len(answers) != len(stored):
        for answer in answers or [""]:
            passwords.verify_secret(answer, None)
        raise NotLoggedIn(BAD_RESET)
    if repo.is_locked(conn, user["id"]) is not None:
        raise NotLoggedIn(BAD_RESET)
    # Check every answer, not just up to the first wrong one: same work either way.
    results = [
        passwords.verify_secret(passwords.normalise_answer(answer), q["answer_hash"])
        for answer, q in zip(answers, stored, strict=True)
    ]
    if not all(results) or not user["is_active"]:
        _fail(conn, user["id"], "reset")
        raise NotLoggedIn(BAD_RESET)
    with conn.transaction():
        users_repo.set_password_hash(conn, user["id"], passwords.hash_secret(new, settings.bcrypt_rounds))
        repo.revoke_all(conn, user["id"])
        repo.clear_failures(conn, user["id"])
        record(conn, "user.password_reset", user["id"], subject_user_id=user["id"])


RESET_CODE_HOURS = 24


def issue_reset_code(conn: Any, settings: Settings, actor: Actor, user_id: int) -> tuple[str, datetime]:
    """A one-time code (shown once, stored as a bcrypt hash) to set a password with."""
    import secrets

    require(actor, ADMIN)
    code = "-".join(secrets.token_hex(3) for _ in range(3))
    with conn.transaction():
        expires = repo.put_reset_code(
            conn, user_id, passwords.hash_secret(code, settings.bcrypt_rounds), actor.id, RESET_CODE_HOURS
        )
        record(conn, "user.reset_code_issued", actor.id, subject_user_id=user_id)
    return code, expires


def reset_with_code(conn: Any, settings: Settings, email: str, code: str, new: str) -> None:
    passwords.check_password_rules(new)
    user = users_repo.by_email(conn, email.strip())
    if user is None or repo.is_locked(conn, user["id"]) is not None:
        passwords.verify_secret(code, None)
        raise NotLoggedIn(BAD_RESET)
    with conn.transaction():
        stored = repo.take_reset_code(conn, user["id"])
        ok = passwords.verify_secret(code.strip(), stored) and user["is_active"]
        if ok:
            users_repo.set_password_hash(conn, user["id"], passwords.hash_secret(new, settings.bcrypt_rounds))
            repo.drop_reset_code(conn, user["id"])
            repo.revoke_all(conn, user["id"])
            repo.clear_failures(conn, user["id"])
            record(conn, "user.password_reset", user["id"], subject_user_id=user["id"], details={"by": "code"})
    if not ok:
        _fail(conn, user["id"], "reset")
        raise NotLoggedIn(BAD_RESET)
