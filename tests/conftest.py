"""Test fixtures: a real PostgreSQL server, a fresh migrated database per test.

The session starts an embedded cluster in a temporary folder, or uses the server
at EVENTREG_TEST_DATABASE_URL (any PostgreSQL 14+, with a role that may create
databases). A migrated template database is built once; each test gets its own
copy (CREATE DATABASE ... TEMPLATE), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import psycopg
import pytest
from keyring.backend import KeyringBackend
from psycopg import sql
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from eventreg.cli import app
from eventreg.db.connection import start_embedded, stop_embedded
from eventreg.db.files import packaged_dir
from eventreg.db.migrations import MigrationRunner

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = packaged_dir("migrations")
SEEDERS = packaged_dir("seeders")
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-keys"
PASSWORD = "correct-horse-battery"


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


def db_url(admin_url: str, name: str) -> str:
    return make_conninfo(admin_url, dbname=name)


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("EVENTREG_TEST_DATABASE_URL")
    if external:
        yield external
        return
    home = tmp_path_factory.mktemp("pg")
    info = start_embedded(home, announce=False)
    yield f"postgresql://postgres@/postgres?host={info['socket_dir']}&port={info['port']}"
    stop_embedded(home)


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        conn.execute(query)
    return db_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"eventreg_tmpl_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    MigrationRunner(url, MIGRATIONS, tmp_path_factory.mktemp("log") / "log.json").migrate()
    yield name
    drop_database(admin_url, name)


@pytest.fixture
def empty_db(admin_url: str) -> Iterator[str]:
    """A database with nothing in it (for the migration runner's own tests)."""
    name = f"eventreg_empty_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


@pytest.fixture
def db(admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    name = f"eventreg_test_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name, template=template_db)
    yield url
    drop_database(admin_url, name)


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection]:
    from eventreg.db.connection import connect

    connection = connect(db)
    yield connection
    connection.close()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def env(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring) -> Path:
    """Environment for running the CLI against the test database."""
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    for key in ("EVENTREG_TOKEN", "EVENTREG_ENV", "DATABASE_URL_TEST", "DATABASE_URL_PROD", "NO_COLOR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("EVENTREG_HOME", str(home))
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("EVENTREG_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def settings(env: Path) -> Any:
    from eventreg.config import load_settings

    return load_settings()


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli(env: Path) -> Cli:
    return Cli()


def make_user(
    conn: psycopg.Connection, settings: Any, email: str, role: str = "student", name: str | None = None
) -> dict[str, Any]:
    from eventreg.auth import service

    return service.sign_up(
        conn,
        settings,
        email,
        name or email.split("@")[0].title(),
        PASSWORD,
        [("What is your favourite colour?", "Blue"), ("First pet?", "Rex")],
        role=role,
    )


@pytest.fixture
def login_as(cli: Cli, conn: psycopg.Connection, settings: Any) -> Callable[..., dict[str, Any]]:
    """Create a user with a role and log the CLI in as them."""

    def log_in(role: str = "student", email: str | None = None) -> dict[str, Any]:
        from eventreg.users import repository

        address = email or f"{role}-{uuid.uuid4().hex[:6]}@example.edu"
        user = repository.by_email(conn, address) or make_user(conn, settings, address, role)
        result = cli("auth", "login", "--email", address, "--password-stdin", input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        return user

    return log_in
