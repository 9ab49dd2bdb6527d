"""Keyset pages: a page starts after the last row of the previous one, never at an offset.

A cursor is an opaque token holding the sort key of the last row shown, so rows
that arrive or leave meanwhile neither shift a page nor repeat one, and reading
page 1,000 costs what reading page 1 costs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from eventreg.errors import InvalidInput
from eventreg.views import Page

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
EXPORT_BATCH = 1000  # rows per page when a command streams every page (--all)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"--limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def encode(*key: Any) -> str:
    raw = json.dumps([str(part) for part in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, *kinds: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The sort key of a cursor made by `encode`, each part read with its kind (int,
    datetime.fromisoformat, ...); None for the first page. A damaged or foreign cursor
    is a usage error."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, list) or len(key) != len(kinds) or not all(isinstance(k, str) for k in key):
            raise ValueError(cursor)
        return tuple(kind(part) for kind, part in zip(kinds, key, strict=True))
    except (ValueError, TypeError, ArithmeticError):
        raise InvalidInput("--after is not a cursor this list gave out (use the one printed after a page)") from None


def page(rows: list[T], limit: int, key: Callable[[T], tuple[Any, ...]]) -> Page[T]:
    """A page from `limit + 1` rows fetched: the extra row only says that there is a next page."""
    if len(rows) <= limit:
        return Page(rows, None)
    shown = rows[:limit]
    return Page(shown, encode(*key(shown[-1])))
