"""/admin: people, roles, capacity, every registration, and the bulk import."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from eventreg import views
from eventreg.errors import InvalidInput, PermissionDenied
from eventreg.roles import ADMIN
from eventreg.server import models, reply
from eventreg.server.deps import After, ApiDep, Limit

router = APIRouter(prefix="/admin", tags=["admin"])

IMPORT_PATH = "/admin/users/import"
MAX_IMPORT_LINE = 1 << 20  # characters buffered while looking for the end of a line


@router.post("/admins", status_code=201, response_model=views.UserChange)
def create_admin(api: ApiDep, body: models.CreateAdmin) -> Response:
    return reply.json(api.create_admin(body.email, body.name, body.password), 201)


@router.get("/users", response_model=views.Page[views.User], responses=reply.LIST_RESPONSES)
def list_users(
    api: ApiDep,
    role: Annotated[str | None, Query()] = None,
    search: Annotated[str | None, Query()] = None,
    after: After = None,
    limit: Limit = 50,
    format: reply.FormatQuery = reply.Format.json,
) -> Response:
    query = views.UsersQuery(role=role, search=search)
    return reply.listing(api, query, format, lambda: api.list_users(query, after, limit))


@router.post(
    "/users/import",
    response_model=views.ImportReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "A CSV with a header row: email, name and optionally role (up to 512 MiB, streamed).",
        }
    },
)
def import_users(api: ApiDep, request: Request) -> Response:
    """Checks that the caller is a signed-in admin before a byte of the body is read, then
    feeds its lines to the import as they arrive."""
    role = api.session().role
    if role != ADMIN:  # the words of roles.require, so the client prints what the local path does
        raise PermissionDenied(f"this needs the {ADMIN} role; you are {role}")
    return reply.json(api.import_users(_lines(request.stream())))


def _lines(chunks: AsyncIterator[bytes]) -> Iterator[str]:
    """The body's lines (UTF-8, a BOM dropped), read from the event loop a chunk at a time
    by this worker thread."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    while (chunk := anyio.from_thread.run(_next, chunks)) is not None:
        try:
            pending += decoder.decode(chunk)
        except UnicodeDecodeError:
            raise InvalidInput("the CSV is not UTF-8 text") from None
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
        if len(pending) > MAX_IMPORT_LINE:
            raise InvalidInput(f"a line of the CSV is longer than {MAX_IMPORT_LINE} characters")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


@router.get("/users/{ref}", response_model=views.AdminUser)
def show_user(api: ApiDep, ref: str) -> Response:
    return reply.json(api.show_user(ref))


@router.post("/users/{ref}/role", response_model=views.UserChange)
def set_role(api: ApiDep, ref: str, body: models.SetRole) -> Response:
    return reply.json(api.set_role(ref, body.role, body.reason))


@router.post("/users/{ref}/active", response_model=views.UserChange)
def set_active(api: ApiDep, ref: str, body: models.SetActive) -> Response:
    return reply.json(api.set_active(ref, body.active, body.reason, body.dry_run))


@router.post("/users/{ref}/unlock", response_model=views.UserChange)
def unlock(api: ApiDep, ref: str, body: Annotated[models.Reason | None, Body()] = None) -> Response:
    return reply.json(api.unlock(ref, body.reason if body else None))


@router.post("/users/{ref}/reset-code", response_model=views.UserChange)
def reset_code(api: ApiDep, ref: str) -> Response:
    return reply.json(api.reset_code(ref))


@router.post("/events/{ref}/capacity", response_model=views.CapacityChange)
def set_capacity(api: ApiDep, ref: str, body: models.Capacity) -> Response:
    return reply.json(api.set_capacity(ref, body.seats, body.reason, body.dry_run))


@router.get("/registrations", response_model=views.Page[views.Registration], responses=reply.LIST_RESPONSES)
def list_registrations(
    api: ApiDep,
    event: Annotated[str | None, Query()] = None,
    user: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    after: After = None,
    limit: Limit = 50,
    format: reply.FormatQuery = reply.Format.json,
) -> Response:
    query = views.RegistrationsQuery(event=event, user=user, status=status)
    return reply.listing(api, query, format, lambda: api.list_registrations(query, after, limit))
