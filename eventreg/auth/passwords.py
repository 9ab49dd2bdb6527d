"""bcrypt for passwords and security answers, and the rules they must meet."""

from __future__ import annotations

from eventreg.errors import InvalidInput

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores anything past 72 bytes; refuse rather than truncate
# A fixed hash to compare against when the account does not exist, so that a
# missing account costs as much time as a wrong password.
_DUMMY_HASH = b"$2b$12$1ZImRrtHh9AvhK.Re0b1V.vKnS1vVfrJr0TxZ.S.dmtvfL6b2YJ8u"


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidInput(f"a password may be at most {MAX_PASSWORD_BYTES} bytes (UTF-8)")
    if "\x00" in password:
        raise InvalidInput("a password may not contain NUL characters")


def normalise_answer(answer: str) -> str:
    """Answers match whatever their case and surrounding spaces."""
    return " ".join(answer.split()).casefold()


def check_answer_rules(answer: str) -> str:
    normal = normalise_answer(answer)
    if not normal:
        raise InvalidInput("a security answer may not be empty")
    if len(normal.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidInput(f"a security answer may be at most {MAX_PASSWORD_BYTES} bytes")
    if "\x00" in normal:
        raise InvalidInput("a security answer may not contain NUL characters")
    return normal


def hash_secret(secret: str, rounds: int) -> str:
    import bcrypt

    return bcrypt.hashpw(secret.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_secret(secret: str, hashed: str | None) -> bool:
    """Constant work whether or not a hash exists."""
    import bcrypt

    candidate = secret.encode("utf-8", "replace")[:MAX_PASSWORD_BYTES].replace(b"\x00", b"?")
    try:
        if not hashed:
            bcrypt.checkpw(candidate, _DUMMY_HASH)
            return False
        return bcrypt.checkpw(candidate, hashed.encode("ascii"))
    except ValueError:
        return False
