"""The FastAPI application: `create_app(settings, database_url)`.

The lifespan opens a psycopg pool whose connections are set up as
`eventreg.db.connection.connect` sets up one (UTC, the statement timeout, dict
rows, the application name) and closes it at shutdown. Each request's `LocalApi`
takes its unit of work's connection from that pool (see deps.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from eventreg import __version__
from eventreg.config import Settings, load_settings
from eventreg.db.connection import APPLICATION_NAME, session_options
from eventreg.errors import EventregError
from eventreg.redact import passwords_in
from eventreg.server import models, problems
from eventreg.server.deps import Served
from eventreg.server.middleware import IMPORT_LIMIT, BodyLimit, HeadLimit, OneSegmentRefs, RequestLog
from eventreg.server.routes import admin, auth, events, ops, users

DESCRIPTION = (
    "The eventreg command line's use cases over HTTP. Send `Authorization: Bearer <token>` "
    "(from POST /auth/login); errors are RFC 9457 problem documents."
)


def _pool(settings: Settings, database_url: str, size: int) -> ConnectionPool:
    """Sessions start as `connect` starts them (session_options), with nothing to run after."""
    kwargs = {
        "row_factory": dict_row,
        "application_name": f"{APPLICATION_NAME}-server",
        "connect_timeout": 10,
        "options": session_options(settings.statement_timeout_ms),
    }
    return ConnectionPool(
        database_url, min_size=1, max_size=size, kwargs=kwargs, timeout=settings.connect_wait_s, name="eventreg",
        open=False,
    )  # fmt: skip


def create_app(settings: Settings, database_url: str, *, pool_size: int = 4) -> FastAPI:
    pool = _pool(settings, database_url, pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=False)  # a database that is down now shows in /readyz, not as a failed start
        try:
            yield
        finally:
            await run_in_threadpool(pool.close)

    app = FastAPI(
        title="eventreg",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        responses=problems.RESPONSES,
    )
    app.state.served = Served(settings, database_url, pool)
    for module in (auth, users, events, admin, ops):
        app.include_router(module.router)
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    problems.install(app)
    app.add_middleware(BodyLimit, limits={admin.IMPORT_PATH: IMPORT_LIMIT})
    app.add_middleware(OneSegmentRefs)
    app.add_middleware(HeadLimit)
    app.add_middleware(RequestLog, secrets=lambda: _secrets(settings, database_url))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _secrets(settings: Settings, database_url: str) -> list[str]:
    """What an unexpected error's traceback must never show: the database password and the
    signing secret, configured or the embedded one (read by then: the server reads it at start)."""
    try:
        return [*passwords_in(database_url), settings.secret()]
    except EventregError:  # no secret to leak: the error being reported may be this one
        return passwords_in(database_url)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the Problem schema every route's error responses refer to."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = models.Problem.model_json_schema()
        app.openapi_schema = document
    return app.openapi_schema


DATABASE_VARIABLE = "EVENTREG_SERVE_DATABASE_URL"
POOL_VARIABLE = "EVENTREG_SERVE_POOL_SIZE"


def from_environment() -> FastAPI:
    """The factory each of `eventreg serve --workers N`'s processes calls: the database the
    serve command resolved (the embedded one included) is handed down in the environment."""
    return create_app(load_settings(), os.environ[DATABASE_VARIABLE], pool_size=int(os.environ.get(POOL_VARIABLE, "4")))
