"""The errors a user can act on, and the exit code and HTTP problem type of each.

The same table serves the command line (exit codes) and the server (RFC 9457
problem details): a problem's `type` maps one-to-one to an exit code, so the
CLI talking to a server exits with the code it would have used locally.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_DOMAIN = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
EXIT_INTERRUPTED = 130

PROBLEM_BASE = "urn:eventreg:problem:"


class EventregError(Exception):
    """An error shown as one line on stderr (or one problem document over HTTP)."""

    exit_code = EXIT_DOMAIN
    problem = "refused"
    http_status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DomainError(EventregError):
    """A rule of the domain refused the request: a full or cancelled event, a bad state, a duplicate."""


class InvalidInput(EventregError):
    """A value the user gave is malformed; reported like a usage error."""

    exit_code = EXIT_USAGE
    problem = "invalid-input"
    http_status = 422


class NotLoggedIn(EventregError):
    """No session, an expired or revoked one, or wrong credentials."""

    exit_code = EXIT_AUTH
    problem = "denied"
    http_status = 401


class PermissionDenied(EventregError):
    """Signed in, but this role or this event's organisers may not do it."""

    exit_code = EXIT_AUTH
    problem = "denied"
    http_status = 403


class TooManyAttempts(NotLoggedIn):
    """Sign-in, reset or code attempts over the limit for now."""

    http_status = 429

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the window ends (HTTP Retry-After), when known


class NotFound(EventregError):
    exit_code = EXIT_NOT_FOUND
    problem = "not-found"
    http_status = 404


class Unavailable(EventregError):
    """The database or server cannot be reached, or is not set up or configured as needed."""

    exit_code = EXIT_UNAVAILABLE
    problem = "unavailable"
    http_status = 503


# problem type -> (exit code, error class raised again on the client side)
PROBLEM_TYPES: dict[str, tuple[int, type[EventregError]]] = {
    "refused": (EXIT_DOMAIN, DomainError),
    "invalid-input": (EXIT_USAGE, InvalidInput),
    "denied": (EXIT_AUTH, NotLoggedIn),
    "not-found": (EXIT_NOT_FOUND, NotFound),
    "unavailable": (EXIT_UNAVAILABLE, Unavailable),
}


def from_problem(problem_type: str, status: int, detail: str) -> EventregError:
    """The error a problem document stands for (the client side of the table above)."""
    name = problem_type.removeprefix(PROBLEM_BASE)
    _, cls = PROBLEM_TYPES.get(name, (EXIT_DOMAIN, DomainError))
    if cls is NotLoggedIn:
        cls = {403: PermissionDenied, 429: TooManyAttempts}.get(status, NotLoggedIn)
    return cls(detail)
