"""bcrypt for passwords, security answers and reset codes, and the rules they must meet."""

from __future__ import annotations

import functools

from eventreg.errors import InvalidInput

MIN_PASSWORD_CHARS = 8
MAX_SECRET_BYTES = 72  # bcrypt ignores anything past 72 bytes: refuse rather than truncate


def _utf8(secret: str, what: str) -> bytes:
    try:
        return secret.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate, which JSON can carry
        raise InvalidInput(f"a {what} must be valid Unicode text") from None


def check_password(password: str) -> str:
    """The rules for a password, at sign-up and at every sign-in alike."""
    if "\x00" in password:
        raise InvalidInput("a password may not contain NUL characters")
    if len(_utf8(password, "password")) > MAX_SECRET_BYTES:
        raise InvalidInput(f"a password may be at most {MAX_SECRET_BYTES} bytes (UTF-8)")
    return password


def check_new_password(password: str) -> str:
    check_password(password)
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def normalise_answer(answer: str) -> str:
    """Answers match whatever their case and the spaces around and between words."""
    return " ".join(answer.split()).casefold()


def check_answer(answer: str) -> str:
    normal = normalise_answer(answer)
    if not normal:
        raise InvalidInput("a security answer may not be empty")
    if "\x00" in normal or len(_utf8(normal, "security answer")) > MAX_SECRET_BYTES:
        raise InvalidInput(f"a security answer may be at most {MAX_SECRET_BYTES} bytes, without NUL")
    return normal


def hash_secret(secret: str, rounds: int) -> str:
    import bcrypt

    return bcrypt.hashpw(secret.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


@functools.cache
def _stand_in(rounds: int) -> bytes:
    """A hash at the configured cost, checked against when there is none (an unknown
    account, a decoy question, no reset code), so that they cost what a real check costs."""
    import bcrypt

    return bcrypt.hashpw(b"stand-in", bcrypt.gensalt(rounds))


def verify(secret: str, hashed: str | None, rounds: int) -> bool:
    """One bcrypt check, at `rounds`, whether or not there is a hash to check against."""
    import bcrypt

    candidate = secret.encode("utf-8", "replace")
    if len(candidate) > MAX_SECRET_BYTES or b"\x00" in candidate:
        candidate, hashed = b"-", None  # refused by the rules; still spend the same time
    try:
        if not hashed:
            bcrypt.checkpw(candidate, _stand_in(rounds))
            return False
        return bcrypt.checkpw(candidate, hashed.encode("ascii"))
    except ValueError:
        return False
