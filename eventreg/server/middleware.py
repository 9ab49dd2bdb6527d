"""ASGI middleware: the head and body limits, and one log line per request (which also ends the unexpected).

Both are plain ASGI, so they see a streamed body chunk by chunk and never buffer it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventreg.redact import redact
from eventreg.server import problems

log = logging.getLogger("eventreg.server")

HEAD_LIMIT = 16 << 10  # 16 KiB, h11's limit on an unfinished head
JSON_LIMIT = 1 << 20  # 1 MiB
IMPORT_LIMIT = 512 << 20  # 512 MiB


class OneSegmentRefs:
    """A reference (an event's slug, a user's email) is one path segment. uvicorn decodes
    `%2F` before routing, so `/events/x%2Forganisers` would reach another route than the
    one asked for; such a path is answered 404, as no slug or email contains a slash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%2f" in scope.get("raw_path", b"").lower():
            response = problems.problem("not-found", 404, "no such resource: a reference cannot contain /")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HeadLimit:
    """Refuse a request whose head (target and headers) is over `HEAD_LIMIT` with 431.

    h11 (`eventreg serve` runs uvicorn on it) refuses a head that stays unfinished past
    16 KiB, which bounds the memory a slow or endless head takes; but it checks only
    between reads, and one read takes up to 256 KiB, so a head that arrives at once can be
    larger. This makes the limit the same however the bytes arrived."""

    def __init__(self, app: ASGIApp, limit: int = HEAD_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.limit:
                detail = f"the request head is larger than {self.limit >> 10} KiB"
                response = problems.problem("invalid-input", 431, detail, {"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit // (1 << 20)} MiB")


class BodyLimit:
    """Refuse a body over the limit of its path: at once when Content-Length says so, else
    when the bytes read pass it (the handler then fails with 413)."""

    def __init__(self, app: ASGIApp, limits: dict[str, int], default: int = JSON_LIMIT) -> None:
        self.app = app
        self.limits = limits
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problems.problem("invalid-input", 413, str(BodyTooLarge(limit).detail))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class RequestLog:
    """One line per request on the logger `eventreg.server`: method, route template (never the
    raw path: refs can be email addresses), status, duration, user id when known, client.
    An exception that no handler turned into a response is logged here, once, with its
    traceback (known secrets removed), and answered with a generic 500 problem."""

    def __init__(self, app: ASGIApp, secrets: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.secrets = secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        except Exception as exc:
            self._unexpected(scope, exc)
            if status:
                raise  # the response has begun: nothing else can be said
            status = 500
            await problems.problem("unavailable", 500, "internal error")(scope, receive, send)
        finally:
            self._line(scope, status, started)

    def _line(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "(no route)"
        state: dict[str, Any] = scope.get("state") or {}
        client = scope.get("client")
        fields = {
            "method": scope["method"],
            "route": template,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user": getattr(state.get("api"), "user_id", None),
            "client": client[0] if client else None,
        }
        log.info(" ".join(f"{key}={value}" for key, value in fields.items()), extra={"request": fields})

    def _unexpected(self, scope: Scope, exc: Exception) -> None:
        secrets = list(self.secrets())
        token = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1").partition(" ")[2].strip()
        if token:
            secrets.append(token)
        text = redact("".join(traceback.format_exception(exc)), secrets)
        log.error("unexpected error on %s: %s", scope["method"], text.rstrip())
