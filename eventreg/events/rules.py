"""The pure rules of events: slugs, text limits, schedules.

Nothing here touches the database; everything above uses these functions. Whether
registration is open is decided where the seat is taken, under the event lock in
one statement (eventreg_take_place, migration 0011), and the registration module
words its answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from eventreg import text
from eventreg.errors import InvalidInput
from eventreg.timeparse import shift

MAX_CAPACITY = 1_000_000
DEFAULT_LENGTH = timedelta(hours=1)
MAX_TITLE = 200
MAX_LOCATION = 200
MAX_DESCRIPTION = 5000
MAX_SLUG = 80
# `eventreg register EVENT` takes a slug where these sub-commands stand, so no event
# may be called by one of their names.
RESERVED_SLUGS = frozenset({"for", "cancel", "list", "help"})
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-")
    if not re.search(r"[a-z]", slug) or slug in RESERVED_SLUGS:  # a letter, so it never reads as an id
        slug = f"event-{slug}".strip("-") if slug not in RESERVED_SLUGS else f"{slug}-event"
    return slug


def check_slug(slug: str) -> str:
    """The rule of the events_slug_check constraint, checked first for a clear message."""
    if not _SLUG.fullmatch(slug) or len(slug) > MAX_SLUG or not re.search(r"[a-z]", slug):
        raise InvalidInput(
            f"a slug is lowercase letters, digits and single dashes, with a letter: {text.for_terminal(slug[:80])!r}"
        )
    if slug in RESERVED_SLUGS:
        raise InvalidInput(f"{slug!r} is a command name and cannot be a slug")
    return slug


def check_capacity(capacity: int) -> int:
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(f"capacity must be between 1 and {MAX_CAPACITY:,}, not {capacity}")
    return capacity


def clean_title(title: str) -> str:
    return text.line(title, "title", MAX_TITLE)


def clean_location(location: str) -> str:
    return text.line(location, "location", MAX_LOCATION, required=False)


def clean_description(description: str) -> str:
    return text.block(description, "description", MAX_DESCRIPTION)


@dataclass(frozen=True)
class Schedule:
    starts_at: datetime
    ends_at: datetime
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None

    def check(self) -> Schedule:
        if self.ends_at <= self.starts_at:
            raise InvalidInput("the event must end after it starts")
        opens, closes = self.registration_opens_at, self.registration_closes_at
        if opens and closes and closes <= opens:
            raise InvalidInput("registration must close after it opens")
        return self

    def moved_to(self, starts_at: datetime) -> Schedule:
        """The same event at another start: the end moves by the same amount, so it keeps its length."""
        return Schedule(
            starts_at,
            shift(self.ends_at, starts_at - self.starts_at, "the end"),
            self.registration_opens_at,
            self.registration_closes_at,
        )


def default_end(starts_at: datetime) -> datetime:
    return shift(starts_at, DEFAULT_LENGTH, "the end")
