"""Every failure as an RFC 9457 problem document (`application/problem+json`).

Domain errors carry their own problem name and status (eventreg/errors.py), so the
remote client exits with the code the local path would have used. Request
validation, malformed values the database refuses, text that is not valid Unicode (a
lone surrogate that reached an encoder) or nested past the recursion limit, a pool with no free connection
and HTTP-level refusals (unknown route, body too large) are mapped here. A detail
never repeats a submitted value: it could be a password.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from eventreg.errors import PROBLEM_BASE, EventregError, TooManyAttempts

MEDIA_TYPE = "application/problem+json"
TITLES = {
    "refused": "Refused",
    "invalid-input": "Invalid input",
    "denied": "Denied",
    "not-found": "Not found",
    "unavailable": "Unavailable",
}
# HTTP-level refusals (no domain error behind them): status -> problem name
BY_STATUS = {401: "denied", 403: "denied", 404: "not-found", 503: "unavailable"}
BUSY_RETRY_S = 1


def problem(name: str, status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": PROBLEM_BASE + name, "title": TITLES.get(name, name), "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def for_error(exc: EventregError) -> JSONResponse:
    headers = None
    if isinstance(exc, TooManyAttempts) and exc.http_status == 429:
        headers = {"Retry-After": str(exc.retry_after or 60)}
    return problem(exc.problem, exc.http_status, exc.message, headers)


def _validation_detail(errors: list[dict[str, Any]]) -> str:
    """Where and what, never the value: `body.answers.0.key: Input should be a valid integer`."""
    parts = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _database_error(exc: psycopg.Error) -> JSONResponse:
    if isinstance(exc, psycopg.DataError):
        return problem("invalid-input", 422, "a value is not valid for the database (out of range or malformed)")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return problem("unavailable", 503, "the database took too long and the statement was cancelled")
    if isinstance(
        exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn | psycopg.errors.UndefinedFunction
    ):
        return problem("unavailable", 503, "the database is not set up for this version of the server")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return problem("unavailable", 503, "lost the database connection; nothing was changed")
    raise exc  # anything else is unexpected: the request log reports it as a 500


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    async def eventreg_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EventregError)
        return for_error(exc)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem("invalid-input", 422, _validation_detail(list(exc.errors())))

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, psycopg.Error)
        return _database_error(exc)

    async def busy(request: Request, exc: Exception) -> JSONResponse:
        return problem("unavailable", 503, "server is busy", {"Retry-After": str(BUSY_RETRY_S)})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # a body that is not JSON at all: malformed input like any other
            return problem("invalid-input", 422, "the body is not valid JSON text")
        name = BY_STATUS.get(exc.status_code, "invalid-input" if exc.status_code < 500 else "unavailable")
        response = problem(name, exc.status_code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def not_unicode(request: Request, exc: Exception) -> JSONResponse:
        # A net under the domain's own checks: JSON can carry a lone surrogate ("\\ud800"),
        # which no UTF-8 encoder (bcrypt, psycopg, a file) can take. Malformed input, not a 500.
        return problem("invalid-input", 422, "the request contains text that is not valid Unicode")

    async def too_deep(request: Request, exc: Exception) -> JSONResponse:
        return problem("invalid-input", 422, "the request is nested too deeply to read")

    app.add_exception_handler(EventregError, eventreg_error)
    app.add_exception_handler(UnicodeError, not_unicode)
    app.add_exception_handler(RecursionError, too_deep)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(psycopg.Error, database_error)
    app.add_exception_handler(PoolTimeout, busy)
    app.add_exception_handler(HTTPException, http_error)


# Documented on every route, so /openapi.json says what a client may meet.
PROBLEM_CONTENT = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": PROBLEM_CONTENT}
    for status, text in (
        (401, "Not signed in, or the session is not valid"),
        (403, "Signed in, but not allowed"),
        (404, "No such thing"),
        (409, "A rule refused it"),
        (413, "The body is too large"),
        (422, "Malformed input"),
        (431, "The request head is too large"),
        (429, "Too many attempts: see Retry-After"),
        (500, "Internal error"),
        (503, "The database is unavailable or the server is busy"),
    )
}
