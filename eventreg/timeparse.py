"""Times from users: ISO 8601, read in the local zone when no zone is given."""

from __future__ import annotations

from datetime import UTC, datetime

from eventreg.errors import InvalidInput


def parse_time(value: str, label: str = "time") -> datetime:
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label} must be an ISO 8601 time like 2026-12-01T18:00, not {value[:60]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a naive time is local time
    if not 1970 <= parsed.year <= 9999 - 1:
        raise InvalidInput(f"{label} is out of range: {value[:60]!r}")
    return parsed


def now() -> datetime:
    return datetime.now(UTC)
