"""Registering, cancelling and leaving a waitlist cost two round trips to the database: one
that checks the session and one statement that decides (the seat functions). Counted from
libpq's own trace of what the client sent, so a BEGIN or COMMIT added around them shows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventreg.api.local import LocalApi
from eventreg.config import load_settings
from eventreg.db.connection import connect
from eventreg.registration import service as registration
from tests import support


def round_trips(db: str, tmp_path: Path, token: str, call: Callable[[LocalApi], Any]) -> int:
    trace = tmp_path / "libpq.trace"

    @contextlib.contextmanager
    def traced() -> Iterator[Any]:
        with connect(db, statement_timeout_ms=5000, wait_s=1) as conn, trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            try:
                yield conn
            finally:
                conn.pgconn.untrace()

    call(LocalApi(load_settings(), traced, lambda: token))
    sent = [line.split("\t")[3] for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]
    return sent.count("Sync") + sent.count("Query")  # each ends one exchange with the server


@pytest.mark.parametrize("use_case", ["register", "cancel", "leave"])
def test_a_seat_is_taken_or_given_up_in_two_round_trips(use_case, env, db, template, tmp_path):
    event = support.published_event(db, capacity=1)
    token = template.tokens["student"]
    if use_case != "register":
        with support.work(db) as uow:  # someone else holds the seat, so the student waits
            other = support.insert_users(uow.conn, 1)[0]
        with support.work(db) as uow:
            registration.register(uow, other, event.slug)
        LocalApi(load_settings(), support.source(db), lambda: token).register(event.slug)
    calls: dict[str, Callable[[LocalApi], Any]] = {
        "register": lambda api: api.register(event.slug),
        "cancel": lambda api: api.cancel_registration(event.slug, None, None),
        "leave": lambda api: api.leave_waitlist(event.slug),
    }
    assert round_trips(db, tmp_path, token, calls[use_case]) == 2
