"""Request bodies: JSON objects with strict types and no unknown keys.

Responses are the dataclasses of `eventreg.views` themselves (FastAPI documents a
dataclass as a schema), so a shape is written down in one place. The bodies that
mirror a view's input (`EventDraft`, `EventChanges`) are derived from its fields.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, create_model

from eventreg import views


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _from_view(view: type, name: str, **extra: Any) -> type[Body]:
    """A body with the fields (types and defaults) of a dataclass of views, plus `extra`."""
    hints = typing.get_type_hints(view)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(view):
        default = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (hints[f.name], default)
    fields.update(extra)
    model: type[Body] = create_model(name, __base__=Body, **fields)
    return model


# -- auth and the signed-in user ------------------------------------------------------------


class Answer(Body):
    key: int
    answer: str


class SignUp(Body):
    email: str
    name: str
    password: str
    answers: list[Answer]


class Credentials(Body):
    email: str
    password: str


class Email(Body):
    email: str


class ResetWithAnswers(Body):
    email: str
    answers: list[str]
    new_password: str


class ResetWithCode(Body):
    email: str
    code: str
    new_password: str


class Logout(Body):
    everywhere: bool = False


class PasswordChange(Body):
    current_password: str
    new_password: str


class Rename(Body):
    name: str


class EmailChange(Body):
    current_password: str
    email: str


class QuestionsChange(Body):
    current_password: str
    answers: list[Answer]


class Revoked(BaseModel):
    """How many sessions a change ended."""

    revoked_sessions: int


# -- events, registrations, the waitlist -------------------------------------------------------

if TYPE_CHECKING:  # made at run time from the views; to the type checker, bodies like any other

    class EventDraft(Body): ...

    class EventChanges(Body): ...

else:
    EventDraft = _from_view(views.EventDraft, "EventDraft")
    EventChanges = _from_view(views.EventChanges, "EventChanges", dry_run=(bool, False))


class CancelRegistration(Body):
    user: str | None = None
    reason: str | None = None
    dry_run: bool = False


class Publish(Body):
    allow_past: bool = False


class CancelEvent(Body):
    reason: str | None = None
    dry_run: bool = False


class CheckIn(Body):
    user: str
    undo: bool = False


class Promote(Body):
    user: str
    over_capacity: bool = False
    reason: str | None = None
    dry_run: bool = False


class Move(Body):
    user: str
    to: int
    reason: str | None = None


class RemoveFromWaitlist(Body):
    user: str
    reason: str | None = None
    dry_run: bool = False


# -- admins --------------------------------------------------------------------------------------


class CreateAdmin(Body):
    email: str
    name: str
    password: str | None = None


class SetRole(Body):
    role: str
    reason: str | None = None


class SetActive(Body):
    active: bool
    reason: str | None = None
    dry_run: bool = False


class Reason(Body):
    reason: str | None = None


class Capacity(Body):
    seats: int
    reason: str | None = None
    dry_run: bool = False


# -- what goes wrong --------------------------------------------------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details; `type` is urn:eventreg:problem:<name>."""

    type: str
    title: str
    status: int
    detail: str


class Status(BaseModel):
    status: str
