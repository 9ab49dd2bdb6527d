"""Fixtures: a real PostgreSQL server, a fresh migrated database per test, signed-in people.

The session starts an embedded cluster in a temporary folder (or uses the server at
EVENTREG_TEST_DATABASE_URL: any PostgreSQL 14+, with a role that may create
databases). A template database is migrated once and given three people, a
student, a staff member and an admin, each with a live session; every test gets
its own copy of it (CREATE DATABASE ... TEMPLATE), so a test signs in by using the
role's token and pays for no login.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import keyring
import pytest
from keyring.backend import KeyringBackend

from eventreg import passwords
from eventreg.config import Settings, load_settings
from eventreg.roles import Actor
from tests import support

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-keys"
PASSWORD = "correct-horse-battery"
ANSWERS = ("Blue", "Rex")  # to catalogue questions 1 and 2
ROLES = ("student", "staff", "admin")


class MemoryKeyring(KeyringBackend):
    """An in-process keyring, so tests never touch the machine's own."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    with support.server("EVENTREG_TEST_DATABASE_URL") as url:
        yield url


class Template:
    """The migrated template: its name, and the three people in it with their tokens."""

    def __init__(self, name: str, people: dict[str, Actor], tokens: dict[str, str]) -> None:
        self.name = name
        self.people = people
        self.tokens = tokens


def _add_person(conn: Any, role: str, answer_hashes: list[str], password_hash: str) -> tuple[Actor, str]:
    email = f"{role}@example.edu"
    row = conn.execute(
        "INSERT INTO users (email, name, role, password_hash) VALUES (%s, %s, %s, %s) RETURNING id",
        (email, f"{role.title()} Person", role, password_hash),
    ).fetchone()
    for key, answer_hash in zip((1, 2), answer_hashes, strict=True):
        conn.execute(
            "INSERT INTO security_questions (user_id, question_key, answer_hash) VALUES (%s, %s, %s)",
            (row["id"], key, answer_hash),
        )
    jti = str(uuid.uuid4())
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO sessions (jti, user_id, expires_at) VALUES (%s, %s, %s)",
        (jti, row["id"], now + timedelta(days=30)),
    )
    claims = {"sub": str(row["id"]), "role": role, "iat": now, "exp": now + timedelta(days=30), "jti": jti}
    return Actor(row["id"], email, f"{role.title()} Person", role, jti), jwt.encode(claims, TEST_SECRET, "HS256")


@pytest.fixture(scope="session")
def template(admin_url: str) -> Iterator[Template]:
    url = support.migrated_database(admin_url, "eventreg_tmpl", keep=True)
    name = url.rsplit("dbname=", 1)[-1].split()[0]
    password_hash = passwords.hash_secret(PASSWORD, 4)
    answer_hashes = [passwords.hash_secret(passwords.normalise_answer(a), 4) for a in ANSWERS]
    people, tokens = {}, {}
    from eventreg.db.connection import connect

    with connect(url, autocommit=True) as conn:
        for role in ROLES:
            people[role], tokens[role] = _add_person(conn, role, answer_hashes, password_hash)
    yield Template(name, people, tokens)
    if os.environ.get("EVENTREG_TEST_DATABASE_URL"):
        support.drop_database(admin_url, name)


@pytest.fixture(scope="session")
def _dropper(admin_url: str) -> Iterator[support.Dropper]:
    dropper = support.Dropper()
    yield dropper
    dropper.finish()  # before the server stops


@pytest.fixture(scope="session")
def _copies(admin_url: str, template: Template, _dropper: support.Dropper) -> Iterator[support.Copies]:
    copies = support.Copies(admin_url, template.name)
    yield copies
    copies.finish(_dropper)


@pytest.fixture
def db(_copies: support.Copies) -> str:
    """A fresh, migrated database (with the template's people) for one test; dropped after it."""
    return _copies.take()


@pytest.fixture(autouse=True)
def _drop_throwaway_databases(_dropper: support.Dropper) -> Iterator[None]:
    """Every database a test made goes when it ends (after its servers and connections)."""
    start = len(support.THROWAWAY)
    yield
    made = support.THROWAWAY[start:]
    del support.THROWAWAY[start:]
    for admin_url, name in made:
        _dropper.drop(admin_url, name)


@pytest.fixture
def people(template: Template) -> dict[str, Actor]:
    return template.people


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def point_at(monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: Path) -> Path:
    """Set the environment of a command line that uses the database at `url`; returns EVENTREG_HOME."""
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("EVENTREG_", "DATABASE_URL")) or key in ("NO_COLOR", "JWT_SECRET"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("EVENTREG_HOME", str(home))
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("EVENTREG_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("EVENTREG_ENV", "test")
    monkeypatch.setenv("DATABASE_URL_TEST", url)
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def env(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring) -> Path:
    """The environment of a command line pointed at this test's database; returns EVENTREG_HOME."""
    return point_at(monkeypatch, db, tmp_path)


@pytest.fixture
def settings(env: Path) -> Settings:
    return load_settings()


class Cli:
    """`cli("event", "list")` runs the command line in-process; `cli.as_role("staff")` signs in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, template: Template) -> None:
        self.monkeypatch = monkeypatch
        self.template = template

    def __call__(self, *args: str, input: str | bytes | None = None, tty: bool = False) -> support.Result:
        return support.run_cli(list(args), input, tty)

    def as_role(self, role: str | None) -> Cli:
        if role is None:
            self.monkeypatch.delenv("EVENTREG_TOKEN", raising=False)
        else:
            self.monkeypatch.setenv("EVENTREG_TOKEN", self.template.tokens[role])
        return self

    def as_token(self, token: str) -> Cli:
        self.monkeypatch.setenv("EVENTREG_TOKEN", token)
        return self


@pytest.fixture
def cli(env: Path, monkeypatch: pytest.MonkeyPatch, template: Template) -> Cli:
    return Cli(monkeypatch, template)


@pytest.fixture
def work(db: str) -> Callable[[], Any]:
    """`with work() as uow:` one committed unit of work on this test's database."""
    return lambda: support.work(db)


@pytest.fixture
def conn(db: str) -> Iterator[Any]:
    """An autocommit connection for set-up and for reading what a test did."""
    from eventreg.db.connection import connect

    with connect(db, autocommit=True) as connection:
        yield connection
