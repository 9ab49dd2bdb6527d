"""/events: listing and showing events, and what staff do with theirs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from eventreg import views
from eventreg.server import models, reply
from eventreg.server.deps import After, ApiDep, Limit

router = APIRouter(prefix="/events", tags=["events"])


class Scope(StrEnum):
    upcoming = "upcoming"
    past = "past"
    all = "all"


@router.get("", response_model=views.Page[views.Event], responses=reply.LIST_RESPONSES)
def list_events(
    api: ApiDep,
    scope: Annotated[Scope, Query()] = Scope.upcoming,
    mine: Annotated[bool, Query(description="Only the events the caller organises.")] = False,
    after: After = None,
    limit: Limit = 50,
    format: reply.FormatQuery = reply.Format.json,
) -> Response:
    query = views.EventsQuery(scope=scope.value, mine=mine)
    return reply.listing(api, query, format, lambda: api.list_events(query, after, limit))


@router.post("", status_code=201, response_model=views.Event)
def create_event(api: ApiDep, body: models.EventDraft) -> Response:
    return reply.json(api.create_event(views.EventDraft(**body.model_dump())), 201)


@router.get("/{ref}", response_model=views.Event)
def show_event(api: ApiDep, ref: str) -> Response:
    return reply.json(api.show_event(ref))


@router.patch("/{ref}", response_model=views.EventUpdate)
def update_event(api: ApiDep, ref: str, body: models.EventChanges) -> Response:
    fields = body.model_dump()
    dry_run = fields.pop("dry_run")
    return reply.json(api.update_event(ref, views.EventChanges(**fields), dry_run))


@router.post("/{ref}/publish", response_model=views.Event)
def publish_event(api: ApiDep, ref: str, body: Annotated[models.Publish | None, Body()] = None) -> Response:
    return reply.json(api.publish_event(ref, body.allow_past if body else False))


@router.post("/{ref}/cancel", response_model=views.EventCancellation)
def cancel_event(api: ApiDep, ref: str, body: Annotated[models.CancelEvent | None, Body()] = None) -> Response:
    body = body or models.CancelEvent()
    return reply.json(api.cancel_event(ref, body.reason, body.dry_run))


# -- organisers -------------------------------------------------------------------------------


@router.get("/{ref}/organisers", response_model=list[views.Organiser])
def organisers(api: ApiDep, ref: str) -> Response:
    return reply.json(api.organisers(ref))


@router.put("/{ref}/organisers/{user}", response_model=views.Organiser)
def add_organiser(api: ApiDep, ref: str, user: str) -> Response:
    return reply.json(api.add_organiser(ref, user))


@router.delete("/{ref}/organisers/{user}", response_model=views.Organiser)
def remove_organiser(api: ApiDep, ref: str, user: str) -> Response:
    return reply.json(api.remove_organiser(ref, user))


# -- registrations and attendance ------------------------------------------------------------------


@router.post("/{ref}/registrations", status_code=201, response_model=views.Enrolment)
def register(api: ApiDep, ref: str) -> Response:
    return reply.json(api.register(ref), 201)


@router.post("/{ref}/registrations/cancel", response_model=views.Cancellation)
def cancel_registration(
    api: ApiDep, ref: str, body: Annotated[models.CancelRegistration | None, Body()] = None
) -> Response:
    body = body or models.CancelRegistration()
    return reply.json(api.cancel_registration(ref, body.user, body.reason, body.dry_run))


@router.post("/{ref}/checkin", response_model=views.CheckIn)
def checkin(api: ApiDep, ref: str, body: models.CheckIn) -> Response:
    return reply.json(api.checkin(ref, body.user, body.undo))


@router.get("/{ref}/attendance", response_model=views.Page[views.Attendee], responses=reply.LIST_RESPONSES)
def list_attendance(
    api: ApiDep, ref: str, after: After = None, limit: Limit = 50, format: reply.FormatQuery = reply.Format.json
) -> Response:
    query = views.AttendanceQuery(event=ref)
    return reply.listing(api, query, format, lambda: api.list_attendance(query, after, limit))


@router.get("/{ref}/history", response_model=views.Page[views.HistoryEntry], responses=reply.LIST_RESPONSES)
def list_history(
    api: ApiDep, ref: str, after: After = None, limit: Limit = 50, format: reply.FormatQuery = reply.Format.json
) -> Response:
    query = views.HistoryQuery(event=ref)
    return reply.listing(api, query, format, lambda: api.list_history(query, after, limit))


@router.get("/{ref}/stats", response_model=views.EventStats)
def stats(
    api: ApiDep,
    ref: str,
    utc_offset_minutes: Annotated[int, Query(description="Days are counted in this zone (within 16 hours).")] = 0,
) -> Response:
    return reply.json(api.stats(ref, utc_offset_minutes))


# -- the waitlist -------------------------------------------------------------------------------------


@router.get("/{ref}/waitlist", response_model=views.Page[views.WaitlistEntry], responses=reply.LIST_RESPONSES)
def list_waitlist(
    api: ApiDep, ref: str, after: After = None, limit: Limit = 50, format: reply.FormatQuery = reply.Format.json
) -> Response:
    query = views.WaitlistQuery(event=ref)
    return reply.listing(api, query, format, lambda: api.list_waitlist(query, after, limit))


@router.post("/{ref}/waitlist/leave", response_model=views.WaitlistChange)
def leave_waitlist(api: ApiDep, ref: str) -> Response:
    return reply.json(api.leave_waitlist(ref))


@router.post("/{ref}/waitlist/promote", response_model=views.WaitlistChange)
def promote(api: ApiDep, ref: str, body: models.Promote) -> Response:
    return reply.json(api.promote(ref, body.user, body.over_capacity, body.reason, body.dry_run))


@router.post("/{ref}/waitlist/move", response_model=views.WaitlistChange)
def move(api: ApiDep, ref: str, body: models.Move) -> Response:
    return reply.json(api.move(ref, body.user, body.to, body.reason))


@router.post("/{ref}/waitlist/remove", response_model=views.WaitlistChange)
def remove_from_waitlist(api: ApiDep, ref: str, body: models.RemoveFromWaitlist) -> Response:
    return reply.json(api.remove_from_waitlist(ref, body.user, body.reason, body.dry_run))
