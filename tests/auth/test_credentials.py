"""Where the session token is kept: EVENTREG_TOKEN, else the OS keyring, else an announced 0600 file.

The keyring here is swapped in-process (`keyring.set_keyring`): the conftest's memory
keyring, or fakes that hang or fail, as a Secret Service can on a headless machine.
Commands run against a real PostgreSQL through the `cli` fixture. A real Secret
Service is tested in test_real_keyring.py.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked, PasswordDeleteError

from eventreg import private
from eventreg.cli.credentials import SERVICE, Credentials, database_key, server_key
from eventreg.config import Settings
from tests import support
from tests.conftest import PASSWORD, Cli, MemoryKeyring, Template

TIMEOUT_S = 0.3  # EVENTREG_KEYRING_TIMEOUT_S in these tests
SLACK_S = 5.0  # generous: an upper bound for "within the timeout", never a sleep
HANG_S = 30.0  # how long a hanging fake blocks when nothing times it out


class HangingKeyring(KeyringBackend):
    """Every call blocks, as a Secret Service waiting on a prompt nobody sees. Released at teardown."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls: list[str] = []

    def _hang(self, name: str) -> None:
        self.calls.append(name)
        self.release.wait(HANG_S)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang("get")
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang("set")

    def delete_password(self, service: str, username: str) -> None:
        self._hang("delete")


class LockedKeyring(MemoryKeyring):
    """Refuses to store or delete, as a locked collection does; may still hold an old token."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


@pytest.fixture
def hanging(memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> Iterator[HangingKeyring]:
    backend = HangingKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setenv("EVENTREG_KEYRING_TIMEOUT_S", str(TIMEOUT_S))
    yield backend
    backend.release.set()  # the stuck worker threads end now, not after HANG_S


def token_file(home: Path, url: str) -> Path:
    return home / "private" / "tokens" / database_key(url)


def login(cli: Cli, email: str = "student@example.edu") -> Any:
    return cli("auth", "login", "--email", email, "--password-stdin", input=f"{PASSWORD}\n")


def status(cli: Cli) -> dict[str, Any]:
    result = cli("auth", "status", "--json")
    assert result.exit_code == 0, result.output
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def settings_for(home: Path, **values: str) -> Settings:
    return Settings(env="test", home=home, values=values)


# -- through the command line -------------------------------------------------------


def test_login_keeps_the_token_in_the_keyring_and_logout_deletes_it(
    cli: Cli, db: str, env: Path, memory_keyring: MemoryKeyring
) -> None:
    # Protection: the keyring comes first; no file is written when it works.
    result = login(cli)
    assert result.exit_code == 0, result.output
    assert "the token is kept in" not in result.output
    key = (SERVICE, f"session:{database_key(db)}")
    assert list(memory_keyring.store) == [key]
    assert not token_file(env, db).exists()
    info = status(cli)
    assert info["email"] == "student@example.edu"
    assert info["token_storage"] == "keyring (tests.conftest.MemoryKeyring)"
    assert cli("auth", "logout").exit_code == 0
    assert memory_keyring.store == {}
    assert cli("auth", "status").exit_code == 3


def test_without_a_keyring_the_token_goes_to_an_announced_0600_file(
    cli: Cli, db: str, env: Path, memory_keyring: MemoryKeyring
) -> None:
    # Protection: the fallback is a private file, and both login and `auth status` say so.
    keyring.set_keyring(fail.Keyring())
    result = login(cli)
    assert result.exit_code == 0, result.output
    path = token_file(env, db)
    assert f"; the token is kept in {path} (mode 0600)" in result.stderr
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(env).st_mode) == 0o700  # EVENTREG_HOME made private on first use
    assert status(cli)["token_storage"] == f"file {path}"
    assert cli("auth", "logout").exit_code == 0
    assert not path.exists()


def test_the_environment_token_overrides_keyring_and_file(
    cli: Cli, db: str, env: Path, memory_keyring: MemoryKeyring, template: Template
) -> None:
    # Protection: EVENTREG_TOKEN wins over both stores (scripts and CI), without touching them.
    assert login(cli).exit_code == 0  # the student, in the keyring
    private.write(token_file(env, db), "not-a-token")  # and a stray file
    info = status(cli.as_token(template.tokens["staff"]))
    assert info["email"] == "staff@example.edu"
    assert info["token_storage"] == "environment (EVENTREG_TOKEN)"
    assert len(memory_keyring.store) == 1


def test_a_hanging_keyring_falls_back_to_the_file_within_the_timeout(
    cli: Cli, db: str, env: Path, hanging: HangingKeyring
) -> None:
    # Protection: every keyring call has a timeout. Without it, login waits HANG_S on the fake.
    started = time.monotonic()
    result = login(cli)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert elapsed < TIMEOUT_S + SLACK_S
    assert len(hanging.calls) == 1  # one timeout (reading the token it replaces), then left alone
    path = token_file(env, db)
    assert f"the token is kept in {path}" in result.stderr
    # The file is read first, so the hanging keyring costs later commands nothing.
    assert status(cli)["token_storage"] == f"file {path}"
    assert len(hanging.calls) == 1


def test_a_keyring_that_hangs_on_reading_costs_one_timeout(tmp_path: Path, hanging: HangingKeyring) -> None:
    # Protection: the timeout on reads; a timed-out keyring is not asked again by the same command.
    credentials = Credentials(settings_for(tmp_path, EVENTREG_KEYRING_TIMEOUT_S=str(TIMEOUT_S)), "db-x")
    started = time.monotonic()
    assert credentials.load() is None
    assert credentials.save("t0ken") == f"file {credentials.file}"
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    assert hanging.calls == ["get"]
    assert credentials.problem is not None and "did not answer within 0.3s" in credentials.problem


def test_a_failing_keyring_falls_back_to_the_file(cli: Cli, db: str, env: Path, memory_keyring: MemoryKeyring) -> None:
    # Protection: an error from the backend (a locked collection) is a fallback, not a crash.
    keyring.set_keyring(LockedKeyring())
    result = login(cli)
    assert result.exit_code == 0, result.output
    path = token_file(env, db)
    assert f"the token is kept in {path}" in result.stderr
    assert status(cli)["token_storage"] == f"file {path}"


def test_the_file_wins_over_an_older_token_the_keyring_still_holds(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    # Protection: a token stored in the file (because the keyring refused) is newer than what the
    # keyring may still hold from an earlier login, which may be a replaced, revoked session.
    locked = LockedKeyring()
    locked.store[(SERVICE, "session:db-x")] = "older-token"
    keyring.set_keyring(locked)
    credentials = Credentials(settings_for(tmp_path), "db-x")
    assert credentials.save("newer-token") == f"file {credentials.file}"
    assert credentials.problem is not None and "Failed to unlock" in credentials.problem
    stored = Credentials(settings_for(tmp_path), "db-x").load()
    assert stored is not None and stored.value == "newer-token"


def test_storing_in_the_keyring_removes_an_older_file(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    # Protection: one place holds the token; a stale file would otherwise win over the keyring.
    credentials = Credentials(settings_for(tmp_path), "db-x")
    private.write(credentials.file, "older-token")
    assert credentials.save("newer-token").startswith("keyring (")
    assert not credentials.file.exists()
    stored = Credentials(settings_for(tmp_path), "db-x").load()
    assert stored is not None and stored.value == "newer-token"


def test_a_fifo_at_the_token_path_is_refused_at_once(cli: Cli, db: str, env: Path) -> None:
    # Protection: private.read refuses it before opening; before, every command hung here.
    path = token_file(env, db)
    private.ensure_dir(path.parent)
    os.mkfifo(path, 0o600)
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(result=cli("auth", "status")), daemon=True)
    worker.start()
    worker.join(SLACK_S)
    if worker.is_alive():
        os.close(os.open(path, os.O_WRONLY))  # free the stuck reader before failing
        worker.join(SLACK_S)
        pytest.fail("auth status hung on a FIFO at the token path")
    assert box["result"].exit_code == 5
    assert "FIFO" in box["result"].stderr and str(path) in box["result"].stderr


def test_a_readable_token_file_is_refused_with_the_fix(cli: Cli, db: str, env: Path) -> None:
    path = token_file(env, db)
    private.write(path, "t0ken")
    path.chmod(0o644)
    result = cli("auth", "status")
    assert result.exit_code == 5
    assert f"chmod 600 {path}" in result.stderr


# -- one entry per place -------------------------------------------------------------


def test_each_database_gets_its_own_keyring_entry(
    cli: Cli,
    db: str,
    admin_url: str,
    template: Template,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Protection: entries are keyed per database, so a token made for one is never sent to another.
    other = support.create_database(admin_url, f"eventreg_t_{uuid.uuid4().hex[:10]}", template=template.name)
    try:
        assert login(cli, "student@example.edu").exit_code == 0
        monkeypatch.setenv("DATABASE_URL_TEST", other)
        assert login(cli, "staff@example.edu").exit_code == 0
        assert set(memory_keyring.store) == {
            (SERVICE, f"session:{database_key(db)}"),
            (SERVICE, f"session:{database_key(other)}"),
        }
        assert status(cli)["email"] == "staff@example.edu"
        assert cli("auth", "logout").exit_code == 0
        monkeypatch.setenv("DATABASE_URL_TEST", db)
        assert status(cli)["email"] == "student@example.edu"  # the other database's logout left it
        assert list(memory_keyring.store) == [(SERVICE, f"session:{database_key(db)}")]
    finally:
        support.drop_database(admin_url, other.rsplit("dbname=", 1)[-1].split()[0])


def test_database_keys_name_the_place_never_the_password() -> None:
    base = database_key("postgresql://app:one@db.example.edu:5432/events")
    assert database_key("postgresql://app:two@db.example.edu:5432/events") == base  # new password, same place
    assert database_key("host=db.example.edu port=5432 dbname=events user=app password=x") == base
    for other in (
        "postgresql://app@db.example.edu:5432/other",
        "postgresql://app@db.example.edu:5433/events",
        "postgresql://app@db2.example.edu:5432/events",
        "postgresql://admin@db.example.edu:5432/events",
    ):
        assert database_key(other) != base, other
    assert "one" not in base and base.startswith("db-")


def test_server_keys_follow_the_origin() -> None:
    base = server_key("https://reg.example.edu")
    assert server_key("https://Reg.Example.edu:443/") == base
    assert server_key("https://reg.example.edu/api/v1") == base
    assert server_key("http://reg.example.edu") != base
    assert server_key("https://reg.example.edu:8443") != base
    assert server_key("https://other.example.edu") != base
    assert base.startswith("srv-") and base != database_key("https://reg.example.edu")


def test_database_and_server_entries_are_separate(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    settings = settings_for(tmp_path)
    on_db = Credentials(settings, database_key("postgresql://app@db.example.edu/events"))
    on_server = Credentials(settings, server_key("https://reg.example.edu"))
    on_db.save("db-token")
    on_server.save("server-token")
    assert len(memory_keyring.store) == 2
    assert on_db.token() == "db-token" and on_server.token() == "server-token"
    on_db.delete()
    assert on_db.token() is None and on_server.token() == "server-token"


def test_delete_removes_the_keyring_entry_and_the_file(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    # Protection: logout forgets the token everywhere it may be, even in both places at once.
    credentials = Credentials(settings_for(tmp_path), "db-x")
    memory_keyring.store[(SERVICE, credentials.username)] = "keyring-token"
    private.write(credentials.file, "file-token")
    assert credentials.delete() is None
    assert memory_keyring.store == {}
    assert not credentials.file.exists()
    assert Credentials(settings_for(tmp_path), "db-x").load() is None
    assert credentials.delete() is None  # nothing left: not an error


def test_delete_warns_when_the_keyring_copy_could_not_be_removed(tmp_path: Path, hanging: HangingKeyring) -> None:
    credentials = Credentials(settings_for(tmp_path, EVENTREG_KEYRING_TIMEOUT_S=str(TIMEOUT_S)), "db-x")
    private.write(credentials.file, "file-token")
    warning = credentials.delete()
    assert warning is not None and "may remain" in warning
    assert not credentials.file.exists()  # the file goes first, whatever the keyring does


def test_a_missing_keyring_entry_is_not_a_problem(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    class Strict(MemoryKeyring):
        def delete_password(self, service: str, username: str) -> None:
            if (service, username) not in self.store:
                raise PasswordDeleteError("No such password!")
            super().delete_password(service, username)

    keyring.set_keyring(Strict())
    credentials = Credentials(settings_for(tmp_path), "db-x")
    assert credentials.delete() is None
    assert credentials.problem is None
