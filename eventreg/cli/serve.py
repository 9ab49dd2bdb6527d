"""`eventreg serve`: run the HTTP server (FastAPI under uvicorn) on this database.

Imported only when the command runs, and it imports the server packages only then,
so `eventreg --help` and a plain `pip install eventreg` never need them.
"""

from __future__ import annotations

import copy
import importlib
import os
from typing import Annotated, Any

import typer

from eventreg.cli.context import Invocation
from eventreg.cli.options import command
from eventreg.errors import InvalidInput, Unavailable

NAME = "serve"
app = typer.Typer(rich_markup_mode=None, add_completion=False)
SERVER_PACKAGES = ("fastapi", "pydantic", "uvicorn", "psycopg_pool", "swagger_ui_bundle")
LIMIT_CONCURRENCY = 500
LIMIT_CONCURRENCY_RANGE = (1, 100_000)


def uvicorn_options(limit_concurrency: int = LIMIT_CONCURRENCY) -> dict[str, Any]:
    """How uvicorn speaks HTTP for `eventreg serve` (the tests' servers run with the same options).

    - `http="h11"`: h11 refuses a request head that stays unfinished past
      `h11_max_incomplete_event_size` (16 KiB by default) with a 400, before it takes more
      memory (the app's HeadLimit then refuses a finished head over 16 KiB with 431).
      httptools, which uvicorn picks when it is installed, has no such limit: a 20 MB header
      was read and accepted. That limit is why h11 is chosen, though httptools parses some 9%
      faster; the server extra does not install httptools.
    - `limit_concurrency`: a request that arrives while this many connections are open (or
      requests running) is answered 503 at once, so a crowd of open or unfinished connections
      is refused cheaply instead of each being served until descriptors run out.
    - `timeout_keep_alive` stays uvicorn's default (5 s): an idle kept-alive connection closes.

    uvicorn has no timeout for a request head that arrives slowly, and a connection that
    never sends a byte is kept: in production, run it behind a buffering reverse proxy (nginx)
    that bounds both."""
    return {"http": "h11", "limit_concurrency": limit_concurrency}


def require_server_packages() -> None:
    for name in SERVER_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise Unavailable(
                f"eventreg serve needs the server packages ({name} is missing): pip install 'eventreg[server]'"
            ) from None


def log_config() -> dict[str, Any]:
    """uvicorn's own logging, plus one line per request from `eventreg.server` on stderr."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["eventreg.server"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@command(app, NAME)
def serve(
    inv: Invocation,
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Processes serving requests.")] = 1,
    pool_size: Annotated[
        int, typer.Option("--pool-size", help="Database connections each worker keeps at most (1 to 100).")
    ] = 4,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            "--limit-concurrency",
            help="Open connections each worker serves at most; a request beyond them gets 503 (1 to 100000).",
        ),
    ] = LIMIT_CONCURRENCY,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Comma-separated proxy addresses whose X-Forwarded-For is trusted for the client address.",
        ),
    ] = None,
) -> None:
    """Serve every command's use case over HTTP for `auth login --server`.

    Uses DATABASE_URL (or, in dev without one, the embedded server) and JWT_SECRET.

    Example: eventreg serve --host 0.0.0.0 --port 8000 --workers 4
    """
    require_server_packages()
    if not 1 <= workers <= 64:
        raise InvalidInput(f"--workers must be between 1 and 64, not {workers}")
    if not 1 <= pool_size <= 100:
        raise InvalidInput(f"--pool-size must be between 1 and 100, not {pool_size}")
    low, high = LIMIT_CONCURRENCY_RANGE
    if not low <= limit_concurrency <= high:
        raise InvalidInput(f"--limit-concurrency must be between {low} and {high}, not {limit_concurrency}")
    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port must be between 1 and 65535, not {port}")
    _check_can_listen(host, port)
    import uvicorn

    from eventreg.server.app import DATABASE_VARIABLE, POOL_VARIABLE, create_app
    from eventreg.server.routes.ops import not_ready

    settings = inv.settings
    url = inv.database_url()
    settings.secret()  # no signing secret: stop now, not at the first sign-in
    reason = not_ready(settings, url, public=False)
    if reason is not None:
        inv.out.message(f"Warning: not ready: {reason}")
    inv.out.message(
        f"eventreg serving http://{host}:{port} ({workers} worker(s), at most {pool_size} database connection(s)"
        f" each) on {inv.describe_database()}"
    )
    proxy = {"proxy_headers": forwarded_allow_ips is not None, "forwarded_allow_ips": forwarded_allow_ips}
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_config": log_config(),
        **proxy,
        **uvicorn_options(limit_concurrency),
    }
    if workers == 1:
        uvicorn.run(create_app(settings, url, pool_size=pool_size), **options)
        return
    os.environ[DATABASE_VARIABLE] = url
    os.environ[POOL_VARIABLE] = str(pool_size)
    os.environ["EVENTREG_ENV"] = settings.env
    uvicorn.run("eventreg.server.app:from_environment", factory=True, workers=workers, **options)


def _check_can_listen(host: str, port: int) -> None:
    """Bind the address once before anything starts, so that a port in use or a host that is
    not this machine's is one line and exit 5, not uvicorn's log after the start was announced."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"--host {host[:80]!r} is not an address of this machine ({exc})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            probe.bind(address)
        except OSError as exc:
            raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
