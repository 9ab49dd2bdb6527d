"""A sign-in racing a password change (or a sign-out everywhere) on real connections.

Sign-in reads the password hash, spends a moment in bcrypt, then inserts its session.
The session insert holds the user row FOR SHARE and only succeeds while the hash is the
one it checked and the account is active (auth.repository.insert_session); revoke_all
first locks the user row FOR UPDATE. So whichever comes first, no session opened with
the old password outlives the change. Each test forces one order with events."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from eventreg import passwords
from eventreg.auth import repository as auth_repo
from eventreg.auth import service as auth
from eventreg.errors import NotLoggedIn
from tests.conftest import PASSWORD
from tests.support import poll, work

NEW_PASSWORD = "another-password-1"
STUDENT = "student@example.edu"


class SignIn(threading.Thread):
    """auth.login in a thread of its own; what it returned or raised is kept."""

    def __init__(self, db: str, settings: Any) -> None:
        super().__init__(name="racing-sign-in", daemon=True)
        self.db, self.settings = db, settings
        self.outcome: Any = None

    def run(self) -> None:
        try:
            self.outcome = auth.login(lambda: work(self.db), self.settings, STUDENT, PASSWORD)
        except Exception as exc:  # reported by the test
            self.outcome = exc


def pause_sign_in_after(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str
) -> tuple[threading.Event, threading.Event]:
    """Make the racing sign-in stop right after `module.name` returns, until `go` is set."""
    reached, go = threading.Event(), threading.Event()
    real: Callable[..., Any] = getattr(module, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if threading.current_thread().name == "racing-sign-in":
            reached.set()
            assert go.wait(30), "the test never let the sign-in go on"
        return result

    monkeypatch.setattr(module, name, paused)
    return reached, go


def test_a_password_changed_while_a_sign_in_runs_bcrypt_refuses_that_sign_in(db, settings, people, monkeypatch):
    checked, go = pause_sign_in_after(monkeypatch, passwords, "verify")
    sign_in = SignIn(db, settings)
    sign_in.start()
    assert checked.wait(30)  # the old password matched; the session is not inserted yet
    with work(db) as uow:
        auth.change_password(uow, settings, people["student"], PASSWORD, NEW_PASSWORD)
    go.set()
    sign_in.join(30)
    assert isinstance(sign_in.outcome, NotLoggedIn), sign_in.outcome


def _waiting_on_a_lock(db: str) -> bool | None:
    from tests.db.fixtures import scalar

    found = scalar(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND wait_event_type = 'Lock' AND state = 'active'")  # fmt: skip
    return True if found else None


@pytest.mark.parametrize("change", ["password", "logout-everywhere"])
def test_a_change_while_a_new_session_is_being_committed_ends_that_session(db, settings, people, monkeypatch, change):
    inserted, go = pause_sign_in_after(monkeypatch, auth_repo, "insert_session")
    sign_in = SignIn(db, settings)
    sign_in.start()
    assert inserted.wait(30)  # the session row exists, uncommitted, the user row held FOR SHARE
    ended: list[int] = []

    def make_change() -> None:
        with work(db) as uow:
            if change == "password":
                ended.append(auth.change_password(uow, settings, people["student"], PASSWORD, NEW_PASSWORD))
            else:
                ended.append(auth.logout(uow, people["student"], everywhere=True))

    changer = threading.Thread(target=make_change, daemon=True)
    changer.start()
    poll(lambda: _waiting_on_a_lock(db), "the change waiting for the sign-in's lock on the user row", timeout=15)
    go.set()
    sign_in.join(30)
    changer.join(30)
    login = sign_in.outcome
    assert not isinstance(login, Exception), login
    with work(db) as uow, pytest.raises(NotLoggedIn):
        auth.authenticate(uow, settings, login.token)
    assert ended and ended[0] >= 1


def test_a_sign_in_holds_no_connection_while_bcrypt_runs(db, settings, monkeypatch):
    """bcrypt takes a while: between the unit of work that read the hash and the one that opens
    the session, the sign-in holds no connection (on the server: none of its few pooled ones)."""
    from tests.db.fixtures import scalar

    checked, go = pause_sign_in_after(monkeypatch, passwords, "verify")
    sign_in = SignIn(db, settings)
    sign_in.start()
    assert checked.wait(30)
    others = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"  # not an autovacuum worker that happens to be there
    )
    held = scalar(db, others)
    go.set()
    sign_in.join(30)
    assert held == 0
    assert not isinstance(sign_in.outcome, Exception), sign_in.outcome
