"""The `server` fixture: a real `eventreg serve` app under uvicorn on a free loopback port.

It serves this test's database (the `env`/`db` fixtures), so `template.tokens[role]`
are valid bearer tokens for it. Tests of the remote client import it too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from eventreg.cli.serve import uvicorn_options
from eventreg.config import load_settings
from eventreg.server.app import create_app
from tests import support

START_TIMEOUT_S = 30.0


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot take signals; pytest keeps them
        return None


def _port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("uvicorn started without a listening socket")


@contextlib.contextmanager
def running(app: Any, **options: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port, with the options of `eventreg
    serve` (`options` override them: `limit_concurrency=5`); yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="on",
        **{**uvicorn_options(), **options},
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="eventreg-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)  # polling for the started flag, not waiting a fixed time
    try:
        yield f"http://127.0.0.1:{_port(server)}"
    finally:
        # uvicorn notices within a tick (0.1 s) and closes its pool; the test need not wait
        # for that, and the session waits for every server before the database server stops.
        server.should_exit = True
        support.STOPPING.append(thread)


@pytest.fixture
def server(env: Path, db: str) -> Iterator[str]:
    """`http://127.0.0.1:PORT` of a running server on this test's database."""
    with running(create_app(load_settings(), db)) as url:
        yield url
