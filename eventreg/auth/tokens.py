"""Signed session tokens: JWT HS256, the algorithm pinned on decode.

Claims: `sub` (the user id as a string), `role`, `iat`, `exp` and `jti` (the
session id). A token is only as good as its `sessions` row: logout, a password
change or a deactivation revokes the row, and the role is read from the database.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from eventreg.errors import NotLoggedIn

ALGORITHM = "HS256"
INVALID = "the session token is not valid: run eventreg auth login"
EXPIRED = "the session expired: run eventreg auth login"


def _jwt() -> ModuleType:
    """PyJWT, loaded without its optional `cryptography` backend unless that is loaded already.

    Only HS256 is ever accepted, which needs nothing but hmac; PyJWT would otherwise
    import cryptography's X.509 and elliptic-curve code (some 45 ms) on every command.
    A None entry in sys.modules makes PyJWT's own `try: import cryptography` fail, as
    on a machine without it; the entry is removed again at once."""
    if "jwt" in sys.modules or "cryptography" in sys.modules:
        import jwt

        return jwt
    sys.modules["cryptography"] = None  # type: ignore[assignment]
    try:
        import jwt
    finally:
        del sys.modules["cryptography"]
    return jwt


def issue(secret: str, user_id: int, role: str, hours: float) -> tuple[str, dict[str, Any]]:
    jwt = _jwt()

    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "iat": now,
        "exp": now + timedelta(hours=hours),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), claims


def decode(secret: str, token: str) -> dict[str, Any]:
    """Verify the signature, the algorithm and the expiry; any failure is 'not logged in'."""
    jwt = _jwt()

    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "iat", "exp", "jti"]}
        )
    except jwt.ExpiredSignatureError:
        raise NotLoggedIn(EXPIRED) from None
    except jwt.InvalidTokenError:
        raise NotLoggedIn(INVALID) from None
    sub, jti = str(claims["sub"]), str(claims["jti"])
    if not (sub.isascii() and sub.isdigit() and len(sub) <= 18):
        raise NotLoggedIn(INVALID)
    try:
        uuid.UUID(jti)
    except ValueError:
        raise NotLoggedIn(INVALID) from None
    return claims
