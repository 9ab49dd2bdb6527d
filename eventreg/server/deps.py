"""What each request gets: a `LocalApi` as the user of its bearer token, on the pool's connections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from psycopg_pool import ConnectionPool

from eventreg.api.local import LocalApi
from eventreg.config import Settings


@dataclass(frozen=True)
class Served:
    """What the app serves: its settings, its database and the pool of connections to it."""

    settings: Settings
    database_url: str
    pool: ConnectionPool


def served(request: Request) -> Served:
    found: Served = request.app.state.served
    return found


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; anything else counts as no token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def local_api(request: Request) -> LocalApi:
    where = served(request)
    token = bearer(request)
    client = request.client.host if request.client else None
    api = LocalApi(where.settings, where.pool.connection, lambda: token, client=client)
    request.state.api = api  # the request log names the user this api authenticated, if any
    return api


ApiDep = Annotated[LocalApi, Depends(local_api)]
After = Annotated[str | None, Query(description="The cursor of the page to read (`next` of the previous one).")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
