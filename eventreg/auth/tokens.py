"""Signed session tokens: JWT HS256, with the algorithm pinned on decode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventreg.errors import NotLoggedIn

ALGORITHM = "HS256"
EXPIRED = "Session expired, run eventreg auth login"


def issue(secret: str, user_id: int, role: str, hours: float) -> tuple[str, dict[str, Any]]:
    import jwt

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
    """Verify signature, algorithm and expiry; any failure is 'not logged in'."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "iat", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise NotLoggedIn(EXPIRED) from None
    except jwt.InvalidTokenError:
        raise NotLoggedIn("the session token is not valid: run eventreg auth login") from None
    if not str(claims["sub"]).isdigit():
        raise NotLoggedIn("the session token is not valid: run eventreg auth login")
    try:
        uuid.UUID(str(claims["jti"]))
    except ValueError:
        raise NotLoggedIn("the session token is not valid: run eventreg auth login") from None
    return claims
