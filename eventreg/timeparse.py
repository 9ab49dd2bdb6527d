"""Times: ISO 8601 in, read in the local zone when none is given; shown with their zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventreg.errors import InvalidInput

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def parse_time(value: str, label: str = "time") -> datetime:
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()  # a time without a zone is local time
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(f"{label} must be an ISO 8601 time like 2026-12-01T18:00, not {value[:60]!r}") from None
    if not EARLIEST <= parsed < LATEST:
        raise InvalidInput(f"{label} must be between 1970 and 2999, not {value[:60]!r}")
    return parsed


def shift(value: datetime, by: timedelta, label: str) -> datetime:
    """`value + by`, with the same range rule as parse_time."""
    try:
        moved = value + by
    except OverflowError:
        moved = LATEST
    if not EARLIEST <= moved < LATEST:
        raise InvalidInput(f"{label} would fall outside 1970 to 2999")
    return moved


def now() -> datetime:
    return datetime.now(UTC)


def local(value: datetime | None) -> str:
    """A stored time in the local zone, with the zone: `2026-12-10 14:00 CET`."""
    if value is None:
        return ""
    shown = value.astimezone()
    zone = shown.strftime("%Z") or shown.strftime("%z")
    return f"{shown:%Y-%m-%d %H:%M} {zone}"


def utc(value: datetime) -> str:
    """A time for a message made where the reader's zone is unknown (the domain, the server)."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def utc_offset_minutes() -> int:
    """The local zone's offset from UTC now, for figures counted per local day."""
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)
