"""Domain errors and the exit code each one maps to (documented in the README)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DOMAIN = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_DATABASE = 5


class EventregError(Exception):
    """An error the user can act on: shown as one line on stderr."""

    exit_code = EXIT_DOMAIN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DomainError(EventregError):
    """A rule of the domain refused the request (full event, bad state, duplicate)."""


class InvalidInput(EventregError):
    """A value the user gave is malformed; reported like Click's usage errors."""

    exit_code = EXIT_USAGE


class NotLoggedIn(EventregError):
    exit_code = EXIT_AUTH


class PermissionDenied(EventregError):
    exit_code = EXIT_AUTH


class NotFound(EventregError):
    exit_code = EXIT_NOT_FOUND


class DatabaseUnavailable(EventregError):
    """The database cannot be reached, or is not set up as the tool expects."""

    exit_code = EXIT_DATABASE
