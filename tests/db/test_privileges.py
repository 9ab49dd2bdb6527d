"""Least privilege for real: an owner migrates and grants, an application role does the rest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from eventreg.db import privileges
from eventreg.db.connection import connect
from eventreg.db.migrations import MigrationRunner
from eventreg.db.seeds import SeedRunner
from eventreg.registration import service as registration
from tests import support
from tests.db.fixtures import NEXT, point_cli_at, scalar, write


def make_role(admin_url: str, db: str) -> Iterator[tuple[str, str]]:
    role = f"eventreg_app_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'app-password'").format(sql.Identifier(role)))
    yield role, make_conninfo(db, user=role, password="app-password")
    with psycopg.connect(db, autocommit=True) as owner:
        owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def app(admin_url: str, db: str) -> Iterator[tuple[str, str]]:
    yield from make_role(admin_url, db)


@pytest.fixture
def other(admin_url: str, db: str) -> Iterator[tuple[str, str]]:
    yield from make_role(admin_url, db)


def may(url: str, role: str, table: str, privilege: str) -> bool:
    return bool(scalar(url, "SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege)))


def test_every_table_of_the_schema_has_a_decision_about_the_app_role(bare_db, owner, admin_url):
    SeedRunner(bare_db, support.SEEDERS).run()
    roles = make_role(admin_url, bare_db)
    try:
        privileges.grant_app_role(owner, next(roles)[0])  # creates the roles table too
    finally:
        next(roles, None)
    tables = {
        r["relname"]
        for r in owner.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        )
    }
    undecided = tables - set(privileges.APP_GRANTS) - set(privileges.TOOLING_TABLES)
    assert undecided == set(), "add each new table to APP_GRANTS or TOOLING_TABLES in eventreg/db/privileges.py"
    assert set(privileges.APP_GRANTS) <= tables  # no grant for a table that no longer exists


def test_the_app_role_runs_the_everyday_flow_and_nothing_more(cli, db, app):
    role, url = app
    assert cli("db", "grant", role).exit_code == 0
    with connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user AS u").fetchone()["u"] == role
        first, second = support.insert_users(conn, 2)
        organiser = support.insert_users(conn, 1, "staff")[0]
    event = support.published_event(url, capacity=1, organiser=organiser)
    for person in (first, second):
        with support.work(url) as uow:
            registration.register(uow, person, event.slug)
    with support.work(url) as uow:
        done = registration.cancel(uow, first, event.slug)
    assert done.was == "registered" and done.promoted == []  # promoted in the same statement; not named to first
    with connect(url) as conn:
        for statement in (
            "DROP TABLE audit_log",
            "DELETE FROM audit_log",
            "DELETE FROM events",
            "DELETE FROM registrations",
            "UPDATE schema_migrations SET checksum = 'x'",
            "DELETE FROM schema_migration_failures",
            "SELECT * FROM eventreg_app_roles",
            "CREATE TABLE sneaky (id int)",
            "ALTER TABLE events DROP CONSTRAINT events_seats_within_capacity",
            # UPDATE reaches only the columns the code changes
            "UPDATE registrations SET user_id = user_id + 1",
            "UPDATE registrations SET event_id = event_id",
            "UPDATE events SET slug = 'taken-over'",
            "UPDATE events SET created_by = NULL",
            "UPDATE users SET created_at = now()",
            "UPDATE sessions SET user_id = user_id",
            "UPDATE audit_log SET reason = 'rewritten'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_grant_by_a_role_that_does_not_own_the_schema_fails_and_grants_nothing(cli, db, app, other, monkeypatch):
    role, url = app
    assert cli("db", "grant", role).exit_code == 0
    point_cli_at(monkeypatch, url)
    result = cli("db", "grant", other[0])
    assert result.exit_code == 3
    assert f"connected as {role}, which does not own the eventreg schema" in result.stderr
    assert "Granted" not in result.output
    assert not may(db, other[0], "users", "SELECT")


def test_grant_to_a_missing_role_is_not_found(cli):
    result = cli("db", "grant", "no_such_role_here")
    assert result.exit_code == 4 and "CREATE ROLE" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("migrate",), ("rollback", "--yes"), ("repair", "--yes"), ("seed",), ("seed", "--undo", "--yes")],
    ids=lambda a: " ".join(a),
)
def test_the_app_role_is_told_to_run_tooling_as_the_schema_owner(cli, app, monkeypatch, args):
    role, url = app
    assert cli("db", "grant", role).exit_code == 0
    point_cli_at(monkeypatch, url)
    result = cli("db", *args)
    assert result.exit_code == 3, result.output
    assert f"run `eventreg db {args[0]}" in result.stderr and "as the schema owner" in result.stderr
    assert "permission denied" not in result.stderr and "Traceback" not in result.output
    assert cli("db", "status").exit_code == 0  # reading the history is fine


def test_migrate_grants_again_so_new_tables_are_covered(
    bare_db, owner, admin_url, migrations, tmp_path: Path, monkeypatch
):
    roles = make_role(admin_url, bare_db)
    role, _ = next(roles)
    try:
        privileges.grant_app_role(owner, role)
        write(migrations / "up" / f"{NEXT}_event_tags.sql", "CREATE TABLE event_tags (id int PRIMARY KEY, tag text);\n")
        monkeypatch.setitem(privileges.APP_GRANTS, "event_tags", ("SELECT", "INSERT"))
        said: list[str] = []
        run = MigrationRunner(bare_db, migrations, tmp_path / "log.json", report=lambda k, f, i: said.append(k))
        run.migrate()
        assert may(bare_db, role, "event_tags", "INSERT") and not may(bare_db, role, "event_tags", "DELETE")
        assert "regranted" in said
    finally:
        next(roles, None)


def test_grant_narrows_a_role_that_was_given_more(cli, db, app):
    """A role granted table-wide UPDATE by hand (or by an older eventreg) ends with the column grants."""
    role, url = app
    with connect(db, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT ALL ON TABLE registrations TO {}").format(sql.Identifier(role)))
    assert cli("db", "grant", role).exit_code == 0
    with connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE registrations SET user_id = user_id")
