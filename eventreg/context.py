"""Per-invocation state shared by the command modules: settings, debug flag, connections."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventreg.config import Settings, load_settings

if TYPE_CHECKING:
    import psycopg


@dataclass
class AppState:
    env: str | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.env)
        return self._settings


_STATE: ContextVar[AppState] = ContextVar("eventreg_state")


def set_state(state: AppState) -> None:
    _STATE.set(state)


def state() -> AppState:
    try:
        return _STATE.get()
    except LookupError:
        fresh = AppState()
        _STATE.set(fresh)
        return fresh


def settings() -> Settings:
    return state().settings()


def database_url() -> str:
    from eventreg.db.connection import database_url as resolve

    return resolve(settings())


@contextmanager
def connection() -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection for one command, closed when the command ends."""
    from eventreg.db.connection import connect

    conn = connect(database_url(), statement_timeout_ms=settings().statement_timeout_ms)
    try:
        yield conn
    finally:
        conn.close()
