"""Two PostgreSQL roles: the owner migrates, an application role runs the everyday commands."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventreg.auth import service as auth
from eventreg.db.connection import connect
from eventreg.events import service as events
from eventreg.registration import service as registration
from eventreg.waitlist import service as waitlist
from tests.conftest import PASSWORD, Cli, make_user
from tests.registration.helpers import actor_for


@pytest.fixture
def app_url(db: str, admin_url: str):
    role = f"eventreg_app_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'app-password'").format(sql.Identifier(role)))
    yield role, make_conninfo(db, user=role, password="app-password")
    with psycopg.connect(db, autocommit=True) as owner:
        owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_app_role_runs_the_everyday_flow_and_nothing_more(cli: Cli, app_url, settings):
    role, url = app_url
    assert cli("db", "grant", role).exit_code == 0
    with connect(url) as conn:
        assert conn.execute("SELECT current_user AS u").fetchone()["u"] == role
        staff = make_user(conn, settings, "staff@example.edu", "staff")
        first = make_user(conn, settings, "first@example.edu")
        second = make_user(conn, settings, "second@example.edu")
        token, _ = auth.login(conn, settings, "first@example.edu", PASSWORD)
        auth.authenticate(conn, settings, token, "student")
        event = events.create(conn, actor_for(staff), "Least Privilege", 1, "2099-01-01T10:00", publish=True)
        registration.register(conn, actor_for(first), event["slug"])
        registration.register(conn, actor_for(second), event["slug"])
        registration.cancel(conn, actor_for(first), event["slug"])
        waitlist.listing(conn, actor_for(staff), event["slug"])
        registration.checkin(conn, actor_for(staff), event["slug"], "second@example.edu")
        events.cancel(conn, actor_for(staff), event["slug"])
        for statement in (
            "DROP TABLE audit_log",
            "DELETE FROM audit_log",
            "DELETE FROM events",
            "DELETE FROM registrations",
            "UPDATE schema_migrations SET checksum = 'x'",
            "CREATE TABLE sneaky (id int)",
            "ALTER TABLE events DROP CONSTRAINT events_seats_within_capacity",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(statement)


def test_app_role_cannot_migrate(cli: Cli, app_url, monkeypatch):
    role, url = app_url
    cli("db", "grant", role)
    monkeypatch.setenv("DATABASE_URL", url)
    status = cli("db", "status")
    assert status.exit_code == 0  # it may read the history
    result = cli("db", "rollback")
    assert result.exit_code in (1, 3) and "Traceback" not in result.output
    assert conninfo_to_dict(url)["user"] == role


def test_grant_to_a_missing_role_is_not_found(cli: Cli):
    result = cli("db", "grant", "no_such_role_here")
    assert result.exit_code == 4 and "CREATE ROLE" in result.stderr
