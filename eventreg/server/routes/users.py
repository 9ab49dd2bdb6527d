"""/users/me: the signed-in user's profile, address, questions and registrations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from eventreg import views
from eventreg.server import models, reply
from eventreg.server.deps import After, ApiDep, Limit

router = APIRouter(prefix="/users/me", tags=["users"])


@router.get("", response_model=views.Profile)
def profile(api: ApiDep) -> Response:
    return reply.json(api.profile())


@router.patch("", response_model=views.User)
def rename(api: ApiDep, body: models.Rename) -> Response:
    return reply.json(api.rename(body.name))


@router.post("/email", response_model=views.UserChange)
def change_email(api: ApiDep, body: models.EmailChange) -> Response:
    return reply.json(api.change_email(body.current_password, body.email))


@router.put("/security-questions", response_model=models.Revoked)
def set_questions(api: ApiDep, body: models.QuestionsChange) -> Response:
    answers = [(a.key, a.answer) for a in body.answers]
    return reply.json({"revoked_sessions": api.set_questions(body.current_password, answers)})


@router.get("/registrations", response_model=views.Page[views.MyRegistration], responses=reply.LIST_RESPONSES)
def list_mine(
    api: ApiDep,
    past: Annotated[bool, Query()] = False,
    after: After = None,
    limit: Limit = 50,
    format: reply.FormatQuery = reply.Format.json,
) -> Response:
    query = views.MineQuery(past=past)
    return reply.listing(api, query, format, lambda: api.list_mine(query, after, limit))
