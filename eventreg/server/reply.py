"""Responses: `views.to_json` of the result, or a CSV stream for `format=csv`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from eventreg import views

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


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


def csv(chunks: Iterator[bytes]) -> StreamingResponse:
    """Stream an export. Its first block is read here, so that refusals (not signed in, not
    allowed, no such event) become problem documents before any header is sent; the
    connection is held while the rest streams and returned when it ends or is abandoned."""
    first = next(chunks, b"")
    return StreamingResponse(_rest(first, chunks), media_type=CSV_MEDIA_TYPE)


def _rest(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        if first:
            yield first
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def listing(api: Any, query: views.ListQuery, format: Format, page: Callable[[], Any]) -> Response:
    """A list route's answer: the whole list as CSV (`format=csv`), or one page as JSON."""
    if format is Format.csv:
        return csv(api.export(query))
    return json(page())
