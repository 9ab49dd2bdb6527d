"""Operations: /healthz (the process is up), /readyz (the database answers and is migrated), /docs."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from eventreg.config import Settings
from eventreg.db.files import packaged_dir
from eventreg.db.history_log import log_path
from eventreg.db.migrations import MigrationRunner
from eventreg.errors import EventregError
from eventreg.server import models, problems
from eventreg.server.deps import served
from eventreg.server.docs import SWAGGER_UI_PARAMETERS, as_openapi_30

router = APIRouter(tags=["operations"])
log = logging.getLogger("eventreg.server")

DOCS_ASSETS = "/docs/assets"


@router.get("/healthz", response_model=models.Status)
def healthz() -> Response:
    return JSONResponse({"status": "ok"})


def not_ready(settings: Settings, database_url: str, *, public: bool = True) -> str | None:
    """Why the server cannot serve requests yet, or None: the migrations' status as `db status`
    reads it. `public` (what /readyz tells anyone): no host, port, role or database; the log has them."""
    runner = MigrationRunner(database_url, packaged_dir("migrations"), log_path(settings.home))
    try:
        states = runner.status()
    except EventregError as exc:
        if not public:
            return f"the database is unreachable: {exc.message}"
        log.warning("readyz: %s", exc.message)
        return "the database is unreachable (the server's log says why)"
    if not any(s.state != "pending" for s in states):
        return "the database was never migrated: run eventreg db migrate"
    pending = [s for s in states if s.state == "pending"]
    if pending:
        return f"{len(pending)} pending migration(s): run eventreg db migrate"
    broken = [s for s in states if s.state != "applied"]
    if broken:
        return f"migration {broken[0].name} is {broken[0].state}: see eventreg db status"
    return None


@router.get("/readyz", response_model=models.Status)
async def readyz(request: Request) -> Response:
    # Probes that arrive while a check runs share its answer: a flood of them holds one
    # database connection, not one each (the check connects as `db status` does, outside the pool).
    state = request.app.state
    check: asyncio.Future[str | None] | None = getattr(state, "readiness", None)
    if check is None or check.done():
        where = served(request)
        check = asyncio.ensure_future(run_in_threadpool(not_ready, where.settings, where.database_url))
        state.readiness = check
    reason = await asyncio.shield(check)  # a probe that gives up does not cancel the others' check
    if reason is not None:
        return problems.problem("unavailable", 503, reason)
    return JSONResponse({"status": "ready"})


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    """Swagger UI, its scripts and styles served from this server (no CDN), with no validator."""
    return get_swagger_ui_html(
        openapi_url="/docs/openapi-3.0.json",
        title="eventreg API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )


@router.get("/docs/openapi-3.0.json", include_in_schema=False)
def openapi_30(request: Request) -> JSONResponse:
    return JSONResponse(as_openapi_30(request.app.openapi()))
