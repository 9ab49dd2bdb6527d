"""The typed rows that cross the seam between the commands and the domain, and their JSON.

Every use case returns one of these (or a `Page` of them). Their field names are
the stable JSON keys documented in the README; `to_json` and `from_json` are the
only encoding, used by `--json`, by the server's responses and by the remote
client reading them back. Repositories build most of them straight from SQL with
psycopg's `class_row`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `next` is the cursor of the following page, or None at the end."""

    items: list[T]
    next: str | None = None


@dataclass(frozen=True)
class Event:
    id: int
    slug: str
    title: str
    description: str
    location: str
    status: str
    capacity: int
    registered: int
    available: int
    waitlist: int
    starts_at: datetime
    ends_at: datetime
    registration_opens_at: datetime | None
    registration_closes_at: datetime | None


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Profile(User):
    """`user show`: a user and the questions that can recover the account (in JSON after the user's keys)."""

    security_questions: list[str]


@dataclass(frozen=True)
class AdminUser(User):
    """`admin users show`: a user and until when sign-in attempts are refused."""

    locked_until: datetime | None


@dataclass(frozen=True)
class SessionInfo:
    id: int
    email: str
    name: str
    role: str
    expires_at: datetime
    token_storage: str | None = None
    server: str | None = None


@dataclass(frozen=True)
class Login:
    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True)
class Question:
    key: int
    text: str


@dataclass(frozen=True)
class ResetCode:
    email: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class MyRegistration:
    slug: str
    title: str
    status: str
    position: int | None
    starts_at: datetime
    registered_at: datetime | None
    checked_in_at: datetime | None


@dataclass(frozen=True)
class WaitlistEntry:
    position: int
    user_id: int
    email: str
    name: str
    joined_at: datetime


@dataclass(frozen=True)
class Attendee:
    user_id: int
    email: str
    name: str
    registered_at: datetime | None
    checked_in_at: datetime | None
    present: bool


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: datetime
    action: str
    actor: str | None
    subject: str | None
    reason: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Registration:
    """A row of `admin registrations`; status is registered, waitlisted, cancelled or attended."""

    id: int
    event: str
    title: str
    email: str
    name: str
    status: str
    created_at: datetime
    registered_at: datetime | None
    cancelled_at: datetime | None
    checked_in_at: datetime | None


@dataclass(frozen=True)
class Organiser:
    user_id: int
    email: str
    name: str
    added_at: datetime


@dataclass(frozen=True)
class DaySignups:
    day: date
    signups: int


@dataclass(frozen=True)
class EventStats:
    slug: str
    title: str
    capacity: int
    registered: int
    waitlist: int
    present: int
    attendance_rate: float | None
    signups_per_day: list[DaySignups]


# -- what a change did (or, with dry_run, would do) -----------------------------------


@dataclass(frozen=True)
class Promoted:
    email: str
    name: str


@dataclass(frozen=True)
class Enrolment:
    """`register EVENT`: a seat, or a place on the waitlist."""

    event: str
    title: str
    status: str  # registered | waitlisted
    position: int | None


@dataclass(frozen=True)
class Cancellation:
    event: str
    title: str
    email: str
    was: str  # registered | waitlisted
    promoted: list[Promoted]
    dry_run: bool = False


@dataclass(frozen=True)
class CheckIn:
    event: str
    title: str
    email: str
    checked_in_at: datetime | None  # None: the check-in was taken back


@dataclass(frozen=True)
class CapacityChange:
    event: str
    title: str
    capacity_from: int
    capacity_to: int
    promoted: list[Promoted]
    dry_run: bool = False


@dataclass(frozen=True)
class EventCancellation:
    event: str
    title: str
    registered: int
    waitlisted: int
    people: list[str]  # the emails of everyone whose seat or place goes
    dry_run: bool = False


@dataclass(frozen=True)
class WaitlistChange:
    """`waitlist promote/move/remove/leave`: whose place changed, and where it is now."""

    event: str
    title: str
    email: str
    action: str  # promoted | moved | removed | left
    position: int | None
    over_capacity: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class UserChange:
    """`admin users role/deactivate/reactivate/unlock`, `admin create`, `auth register`."""

    user: User
    action: str
    revoked_sessions: int = 0
    reset_code: ResetCode | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ImportSkip:
    line: int
    email: str
    reason: str


@dataclass(frozen=True)
class ImportReport:
    created: int
    skipped: int  # rows whose address already has an account
    skipped_lines: list[ImportSkip] = field(default_factory=list)  # the first of them


# -- JSON ------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Plain JSON values: dataclasses become objects (in field order), times ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The type of each field of a dataclass of this module (read once per class)."""
    return typing.get_type_hints(cls)


def from_json(kind: Any, data: Any) -> Any:
    """The inverse of `to_json` for a type of this module (or a list, Optional or Page of one)."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return from_json(options[0], data)
    if origin is list:
        (inner,) = typing.get_args(kind)
        return [from_json(inner, item) for item in data]
    if origin is Page:
        (inner,) = typing.get_args(kind)
        return Page(items=[from_json(inner, item) for item in data["items"]], next=data.get("next"))
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = field_types(kind)
        return kind(**{f.name: from_json(hints[f.name], data.get(f.name)) for f in dataclasses.fields(kind)})
    if kind is float and isinstance(data, int):
        return float(data)
    return data


# -- what a list is asked for (the same for a page and for a CSV export) -------------------


@dataclass(frozen=True)
class EventsQuery:
    scope: str = "upcoming"  # upcoming | past | all
    mine: bool = False  # only events the caller organises


@dataclass(frozen=True)
class WaitlistQuery:
    event: str


@dataclass(frozen=True)
class AttendanceQuery:
    event: str


@dataclass(frozen=True)
class HistoryQuery:
    event: str


@dataclass(frozen=True)
class MineQuery:
    past: bool = False


@dataclass(frozen=True)
class UsersQuery:
    role: str | None = None
    search: str | None = None


@dataclass(frozen=True)
class RegistrationsQuery:
    event: str | None = None
    user: str | None = None
    status: str | None = None


ListQuery = EventsQuery | WaitlistQuery | AttendanceQuery | HistoryQuery | MineQuery | UsersQuery | RegistrationsQuery


@dataclass(frozen=True)
class EventDraft:
    title: str
    capacity: int
    starts_at: str
    ends_at: str | None = None
    slug: str | None = None
    location: str = ""
    description: str = ""
    registration_opens: str | None = None
    registration_closes: str | None = None
    publish: bool = False
    allow_past: bool = False


@dataclass(frozen=True)
class EventChanges:
    """What `event update` changes; None leaves a field as it is."""

    title: str | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    location: str | None = None
    description: str | None = None
    registration_opens: str | None = None
    registration_closes: str | None = None
    capacity: int | None = None
    reason: str | None = None
    allow_past: bool = False  # a new start in the past is refused without it

    def details(self) -> dict[str, str]:
        names = {
            "title": self.title,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "location": self.location,
            "description": self.description,
            "registration_opens_at": self.registration_opens,
            "registration_closes_at": self.registration_closes,
        }
        return {k: v for k, v in names.items() if v is not None}


@dataclass(frozen=True)
class EventUpdate:
    event: Event
    capacity: CapacityChange | None = None
    dry_run: bool = False
