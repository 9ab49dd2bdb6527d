"""Fixtures and helpers for the database tooling tests: empty and bare databases,
private copies of the SQL folders, and reading what the history tables say.

Imported by tests/db/conftest.py and by the CLI and fault tests of the `db` commands.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventreg.db.connection import connect
from tests import support

SHIPPED = sorted(path.name[:4] for path in (support.MIGRATIONS / "up").glob("*.sql"))
NEXT = f"{int(SHIPPED[-1]) + 1:04d}"


@pytest.fixture(scope="session")
def bare_template(admin_url: str) -> Iterator[str]:
    """A migrated database with no rows of anyone's: the template of `bare_db`."""
    url = support.migrated_database(admin_url, "eventreg_bare", keep=True)
    name = url.rsplit("dbname=", 1)[-1].split()[0]
    yield name
    if os.environ.get("EVENTREG_TEST_DATABASE_URL"):
        support.drop_database(admin_url, name)


@pytest.fixture
def bare_db(admin_url: str, bare_template: str) -> Iterator[str]:
    """A fresh migrated database with no users at all (seeds need their emails free)."""
    yield from _database(admin_url, "eventreg_b", bare_template)


@pytest.fixture
def empty_db(admin_url: str) -> Iterator[str]:
    """A database with nothing in it, for the migration runner."""
    yield from _database(admin_url, "eventreg_e", None)


def _database(admin_url: str, prefix: str, template: str | None) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    yield support.create_database(admin_url, name, template=template)  # dropped when the test ends


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A private copy of the shipped migrations that a test may change."""
    target = tmp_path / "migrations"
    shutil.copytree(support.MIGRATIONS, target)
    return target


@pytest.fixture
def seeders(tmp_path: Path) -> Path:
    target = tmp_path / "seeders"
    shutil.copytree(support.SEEDERS, target)
    return target


@pytest.fixture
def owner(bare_db: str) -> Iterator[Any]:
    """An autocommit connection to `bare_db` as its owner."""
    with connect(bare_db, autocommit=True) as conn:
        yield conn


def point_cli_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Make the command line (env fixture: --env test) use this database."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATABASE_URL_TEST", url)


def applied_versions(url: str) -> list[str]:
    with connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('schema_migrations') IS NULL AS bare").fetchone()["bare"]:
            return []
        return [r["version"] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def scalar(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
        return None if row is None else next(iter(row.values()))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
