"""/auth: sign-up, sign-in, the session, and account recovery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response

from eventreg import views
from eventreg.server import models, reply
from eventreg.server.deps import ApiDep

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/questions", response_model=list[views.Question])
def questions(api: ApiDep) -> JSONResponse:
    return reply.json(api.questions())


@router.post("/signup", status_code=201, response_model=views.User)
def sign_up(api: ApiDep, body: models.SignUp) -> JSONResponse:
    answers = [(a.key, a.answer) for a in body.answers]
    return reply.json(api.sign_up(body.email, body.name, body.password, answers), 201)


@router.post("/login", response_model=views.Login)
def login(api: ApiDep, body: models.Credentials) -> JSONResponse:
    """Sign in; a bearer token sent along is the session this one replaces, and is ended."""
    return reply.json(api.login(body.email, body.password))


@router.post("/reset/questions", response_model=list[views.Question])
def reset_questions(api: ApiDep, body: models.Email) -> JSONResponse:
    return reply.json(api.reset_questions(body.email))


@router.post("/reset/answers", status_code=204, response_class=Response)
def reset_with_answers(api: ApiDep, body: models.ResetWithAnswers) -> Response:
    api.reset_with_answers(body.email, body.answers, body.new_password)
    return reply.no_content()


@router.post("/reset/code", status_code=204, response_class=Response)
def reset_with_code(api: ApiDep, body: models.ResetWithCode) -> Response:
    api.reset_with_code(body.email, body.code, body.new_password)
    return reply.no_content()


@router.get("/session", response_model=views.SessionInfo)
def session(api: ApiDep) -> JSONResponse:
    return reply.json(api.session())


@router.post("/logout", response_model=models.Revoked)
def logout(api: ApiDep, body: Annotated[models.Logout | None, Body()] = None) -> JSONResponse:
    everywhere = body.everywhere if body else False
    return reply.json({"revoked_sessions": api.logout(everywhere)})


@router.post("/password", response_model=models.Revoked)
def change_password(api: ApiDep, body: models.PasswordChange) -> JSONResponse:
    return reply.json({"revoked_sessions": api.change_password(body.current_password, body.new_password)})
