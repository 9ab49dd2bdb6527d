"""Responses: `views.to_json` of the result, or a spooled CSV export for `format=csv`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import IO, Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from eventreg import views

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
SPOOL_MEMORY = 1 << 20  # an export up to 1 MiB stays in memory; a larger one goes to a temporary file
SEND_BLOCK = 64 * 1024


class Format(StrEnum):
    json = "json"
    csv = "csv"


FormatQuery = Annotated[
    Format, Query(description="`csv` streams the whole list as CSV instead (`after` and `limit` are ignored).")
]

# The 200 of a list route: a page as JSON, or the whole list as CSV.
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "A page, or the list as CSV"}
}


def json(result: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(views.to_json(result), status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


def csv(chunks: Iterator[bytes]) -> Response:
    """An export, spooled before it is sent.

    Called from a route's worker thread: the whole export is run into a temporary file
    (in memory up to `SPOOL_MEMORY`, on disk beyond), so the pool's connection is given
    back as soon as the COPY ends. Streamed straight from the COPY, a client that stops
    reading would hold the connection, mid-COPY, for as long as it keeps its socket open:
    a few such clients take every connection of the pool. A refusal (not signed in, not
    allowed, no such event) or a database error is raised here, so it becomes a problem
    document before any header is sent."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    try:
        try:
            for chunk in chunks:
                spool.write(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a failed write (a full disk) ends the COPY and returns the connection too
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return SpooledResponse(spool)


class SpooledResponse(StreamingResponse):
    """The spooled file in blocks; closed (and so deleted) when the response ends, whether
    it was sent whole, the client went away or sending failed."""

    def __init__(self, spool: IO[bytes]) -> None:
        super().__init__(_blocks(spool), media_type=CSV_MEDIA_TYPE)
        self.spool = spool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.spool.close()  # a block being read has been read: thread calls are not abandoned


def _blocks(spool: IO[bytes]) -> Iterator[bytes]:
    while block := spool.read(SEND_BLOCK):
        yield block


def listing(api: Any, query: views.ListQuery, format: Format, page: Callable[[], Any]) -> Response:
    """A list route's answer: the whole list as CSV (`format=csv`), or one page as JSON."""
    if format is Format.csv:
        return csv(api.export(query))
    return json(page())
