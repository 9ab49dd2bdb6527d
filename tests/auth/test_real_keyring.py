"""The token in a real Secret Service (gnome-keyring over D-Bus), driven through the real CLI.

These tests lock the keyring's collection and freeze its daemon, so they only ever
run against the private session bus and throwaway gnome-keyring that
`.ci/keyring-tests` starts; that script sets EVENTREG_TEST_REAL_KEYRING=1, and then a
missing Secret Service fails the tests instead of skipping them. Everywhere else
(a developer's desktop included) they are skipped: their own keyring is never touched.

The keyring backend is found by keyring's own detection, as in a fresh command, and
the database is a real PostgreSQL (the conftest's).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import jwt
import keyring
import keyring.core
import pytest

from eventreg.cli.credentials import SERVICE, database_key
from tests import support
from tests.conftest import PASSWORD, TEST_SECRET, Cli, MemoryKeyring, Template

REQUIRED = os.environ.get("EVENTREG_TEST_REAL_KEYRING") == "1"
# Read now: the conftest's `env` fixture clears every EVENTREG_ variable for each test.
KEYRING_PASSWORD = os.environ.get("EVENTREG_TEST_KEYRING_PASSWORD", "")
BACKEND = "keyring.backends.SecretService.Keyring"
TIMEOUT_S = 0.5  # EVENTREG_KEYRING_TIMEOUT_S for the hanging case
SLACK_S = 5.0  # an upper bound for "within the timeout", never a sleep
ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 15.0  # after this, a call is taken to hang
T = TypeVar("T")

pytestmark = pytest.mark.skipif(
    not REQUIRED,
    reason="a real Secret Service is tested only inside .ci/keyring-tests (a private D-Bus session with "
    "gnome-keyring, which these tests lock and freeze); run that script",
)


def _secret_service() -> Any:
    """A D-Bus connection to a running Secret Service, or a failure that says what is missing."""
    try:
        import secretstorage
        from jeepney.bus_messages import message_bus
    except ImportError as exc:
        pytest.fail(f"keyring's Secret Service backend needs secretstorage and jeepney: {exc}")
    try:
        conn = secretstorage.dbus_init()
    except Exception as exc:
        pytest.fail(f"no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS): {exc}")
    if not conn.send_and_get_reply(message_bus.NameHasOwner("org.freedesktop.secrets")).body[0]:
        pytest.fail("no Secret Service (org.freedesktop.secrets) is running on the session bus")
    return conn


@pytest.fixture
def bus() -> Iterator[Any]:
    conn = _secret_service()
    with closing(conn):
        yield conn


@pytest.fixture
def collection(bus: Any) -> Any:
    import secretstorage

    found = secretstorage.get_default_collection(bus)
    assert not found.is_locked(), "the script unlocks the login collection before the tests"
    return found


def _real(backend: Any) -> bool:
    module = type(backend).__module__
    return not module.startswith("tests.") and module != "keyring.backends.chainer"


@pytest.fixture
def real_keyring(cli: Cli, memory_keyring: MemoryKeyring, collection: Any, env: Path) -> Iterator[Any]:
    """keyring's own backend detection, as a fresh command does it (the conftest put a memory
    keyring in place; it is restored afterwards). Leaves no eventreg item behind.

    In this process the tests' fake backends are registered too (every KeyringBackend subclass
    is), so they and the chainer that would combine them are left out; a test also runs a real
    process, where nothing is left out."""
    keyring.core.init_backend(limit=_real)
    backend = keyring.get_keyring()
    assert f"{type(backend).__module__}.{type(backend).__name__}" == BACKEND
    yield backend
    for item in collection.search_items({"service": SERVICE}):
        item.delete()


def items(collection: Any, url: str) -> list[str]:
    """The secrets the Secret Service holds for this database's entry, read with secretstorage."""
    found = collection.search_items({"service": SERVICE, "username": f"session:{database_key(url)}"})
    return [item.get_secret().decode() for item in found]


def login(cli: Cli, email: str = "student@example.edu") -> Any:
    return cli("auth", "login", "--email", email, "--password-stdin", input=f"{PASSWORD}\n")


def status(cli: Cli) -> dict[str, Any]:
    result = cli("auth", "status", "--json")
    assert result.exit_code == 0, result.output
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def eventreg(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command line of this checkout in its own process, with this test's environment."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHON_KEYRING_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "eventreg", *args], input=stdin, capture_output=True, text=True, timeout=30, env=env
    )


def token_file(home: Path, url: str) -> Path:
    return home / "private" / "tokens" / database_key(url)


def test_login_stores_the_token_in_the_secret_service_and_logout_deletes_it(
    cli: Cli, db: str, env: Path, real_keyring: Any, collection: Any
) -> None:
    result = login(cli)
    assert result.exit_code == 0, result.output
    assert "the token is kept in" not in result.output
    [token] = items(collection, db)
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    assert claims["role"] == "student"
    assert not token_file(env, db).exists()
    info = status(cli)
    assert info["email"] == "student@example.edu"
    assert info["token_storage"] == f"keyring ({BACKEND})"
    # A real process finds the Secret Service by itself and reads the token from it.
    separate = eventreg("auth", "status", "--json")
    assert separate.returncode == 0, separate.stderr
    assert json.loads(separate.stdout)["token_storage"] == f"keyring ({BACKEND})"
    assert cli("auth", "logout").exit_code == 0
    assert items(collection, db) == []
    assert cli("auth", "status").exit_code == 3


def test_a_second_database_gets_its_own_entry(
    cli: Cli,
    db: str,
    admin_url: str,
    template: Template,
    real_keyring: Any,
    collection: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = support.create_database(admin_url, f"eventreg_t_{uuid.uuid4().hex[:10]}", template=template.name)
    try:
        assert login(cli, "student@example.edu").exit_code == 0
        monkeypatch.setenv("DATABASE_URL_TEST", other)
        assert login(cli, "staff@example.edu").exit_code == 0
        [first], [second] = items(collection, db), items(collection, other)
        assert jwt.decode(first, TEST_SECRET, algorithms=["HS256"])["role"] == "student"
        assert jwt.decode(second, TEST_SECRET, algorithms=["HS256"])["role"] == "staff"
        assert status(cli)["email"] == "staff@example.edu"
        assert cli("auth", "logout").exit_code == 0
        assert items(collection, other) == [] and items(collection, db) == [first]
        monkeypatch.setenv("DATABASE_URL_TEST", db)
        assert status(cli)["email"] == "student@example.edu"
    finally:
        support.drop_database(admin_url, other.rsplit("dbname=", 1)[-1].split()[0])


@pytest.fixture
def locked(bus: Any, collection: Any) -> Iterator[Any]:
    """The login collection locked through the Secret Service API, unlocked again afterwards
    with the script's password (gnome-keyring's prompt-free unlock: there is no display)."""
    from jeepney import DBusAddress, new_method_call
    from secretstorage.util import format_secret, open_session

    collection.lock()
    assert collection.is_locked()
    yield collection
    internal = DBusAddress(
        "/org/freedesktop/secrets",
        bus_name="org.freedesktop.secrets",
        interface="org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
    )
    path = bus.send_and_get_reply(
        new_method_call(
            DBusAddress(
                "/org/freedesktop/secrets",
                bus_name="org.freedesktop.secrets",
                interface="org.freedesktop.Secret.Service",
            ),
            "ReadAlias",
            "s",
            ("default",),
        )
    ).body[0]
    secret = format_secret(open_session(bus), KEYRING_PASSWORD.encode(), "text/plain")
    bus.send_and_get_reply(new_method_call(internal, "UnlockWithMasterPassword", "o(oayays)", (path, secret)))
    assert not collection.is_locked()


def test_a_locked_collection_falls_back_to_the_announced_file(
    cli: Cli, db: str, env: Path, real_keyring: Any, locked: Any
) -> None:
    # With no display, the unlock prompt cannot be shown; keyring gives up and eventreg says where
    # the token went instead.
    started = time.monotonic()
    result = login(cli)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5.0 + SLACK_S  # within the default keyring timeout
    path = token_file(env, db)
    assert f"; the token is kept in {path} (mode 0600)" in result.stderr
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert status(cli)["token_storage"] == f"file {path}"
    assert cli("auth", "logout").exit_code == 0
    assert not path.exists()


def _daemon_pid(bus: Any) -> int:
    from jeepney.bus_messages import message_bus

    pid: int = bus.send_and_get_reply(message_bus.GetConnectionUnixProcessID("org.freedesktop.secrets")).body[0]
    return pid


@pytest.fixture
def frozen(bus: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The Secret Service daemon stopped (SIGSTOP): its D-Bus calls hang, as on a headless machine
    waiting for a prompt. It is the script's own daemon; it is woken (SIGCONT) afterwards."""
    pid = _daemon_pid(bus)
    monkeypatch.setenv("EVENTREG_KEYRING_TIMEOUT_S", str(TIMEOUT_S))
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def bounded(call: Callable[[], T], frozen: int) -> T:
    """Run `call` in a thread; when it is still blocked after BOUND_S, wake the daemon (which
    frees it) and fail, instead of hanging the suite."""
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(value=call()), daemon=True)
    worker.start()
    worker.join(BOUND_S)
    if worker.is_alive():
        os.kill(frozen, signal.SIGCONT)
        worker.join(BOUND_S)
        pytest.fail(f"blocked for {BOUND_S:g}s on a hanging Secret Service: no timeout on the keyring call")
    value: T = box["value"]
    return value


def test_a_hanging_secret_service_falls_back_within_the_timeout(
    cli: Cli, db: str, env: Path, real_keyring: Any, frozen: int
) -> None:
    started = time.monotonic()
    result = bounded(lambda: login(cli), frozen)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    path = token_file(env, db)
    assert f"; the token is kept in {path} (mode 0600)" in result.stderr
    started = time.monotonic()
    info = bounded(lambda: status(cli), frozen)
    assert info["token_storage"] == f"file {path}"  # the file first: the keyring is not asked
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S


def test_a_real_process_falls_back_and_exits_while_the_secret_service_hangs(
    db: str, env: Path, real_keyring: Any, frozen: int
) -> None:
    # A fresh process: keyring detects the Secret Service itself (the bus answers for it), the
    # token calls hang, and the worker thread stuck in D-Bus does not keep the process alive.
    started = time.monotonic()
    result = eventreg("auth", "login", "--email", "student@example.edu", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S + 5.0  # and the start-up of a process
    path = token_file(env, db)
    assert f"; the token is kept in {path} (mode 0600)" in result.stderr
    assert path.exists()
