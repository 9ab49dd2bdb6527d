"""Which role each command needs, declared once on the command.

`@declare(ROLE)` marks a command; `signed_in()` opens the command's connection and
asks the auth service to verify the session and check the declared role. The check
itself lives in `auth.service.authenticate`, the one place that decides.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import psycopg

    from eventreg.auth.service import Actor

# Commands that need no sign-in: the public ones (sign-up, login) and the operator's
# database tools, whose authority is the database URL itself.
PUBLIC = "public"
OPERATOR = "operator"
STUDENT = "student"
STAFF = "staff"
ADMIN = "admin"

ROLE_RANK = {STUDENT: 1, STAFF: 2, ADMIN: 3}
DECLARED_ATTR = "__eventreg_role__"

F = TypeVar("F", bound=Callable[..., Any])
_REQUIRED: ContextVar[str | None] = ContextVar("eventreg_required_role", default=None)


def declare(role: str) -> Callable[[F], F]:
    if role not in (PUBLIC, OPERATOR, *ROLE_RANK):
        raise ValueError(f"unknown role {role!r}")

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = _REQUIRED.set(role)
            try:
                return fn(*args, **kwargs)
            finally:
                _REQUIRED.reset(token)

        setattr(run, DECLARED_ATTR, role)
        return run  # type: ignore[return-value]

    return wrap


def required_role() -> str:
    role = _REQUIRED.get()
    if role is None:
        raise RuntimeError("this command declares no role: add @declare(...)")
    return role


@contextmanager
def signed_in() -> Iterator[tuple[psycopg.Connection[dict[str, Any]], Actor]]:
    """The command's connection and the verified acting user, at the declared role."""
    from eventreg import context
    from eventreg.auth import service, token_store

    role = required_role()
    if role in (PUBLIC, OPERATOR):
        raise RuntimeError("a public command has no signed-in user")
    settings = context.settings()
    token = token_store.load(settings, context.database_url())
    with context.connection() as conn:
        actor = service.authenticate(conn, settings, token.value if token else None, role)
        yield conn, actor


@contextmanager
def maybe_signed_in() -> Iterator[tuple[psycopg.Connection[dict[str, Any]], Actor | None]]:
    """For public commands that show more to a signed-in user (staff see drafts).
    A missing or invalid token means an anonymous caller, not an error."""
    from eventreg import context
    from eventreg.auth import service, token_store
    from eventreg.errors import EventregError

    settings = context.settings()
    with context.connection() as conn:
        actor = None
        try:
            token = token_store.load(settings, context.database_url())
            if token is not None:
                actor = service.authenticate(conn, settings, token.value, STUDENT)
        except EventregError:
            actor = None
        yield conn, actor
