"""`db grant` refuses a role the grants would not restrict or would lock out, before changing anything.

These tests run as a schema owner that is not a superuser, as in production: a
superuser keeps every right whatever its ACLs say, so it would hide the lock-out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from eventreg.db import privileges
from eventreg.db.connection import connect
from eventreg.db.migrations import MigrationRunner
from tests import support
from tests.db.fixtures import NEXT, point_cli_at, scalar, write


def run_as_admin(admin_url: str, statement: str, *names: str, dbname: str | None = None) -> None:
    """One statement with its identifiers filled in, as the superuser (in `dbname` if given)."""
    url = make_conninfo(admin_url, dbname=dbname) if dbname else admin_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def owned_template(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(owner role, template database): the shipped migrations applied by a LOGIN role that is not a superuser."""
    owner, template = new_name("owner"), new_name("eventreg_owned")
    run_as_admin(admin_url, "CREATE ROLE {} LOGIN", owner)
    run_as_admin(admin_url, "CREATE DATABASE {} OWNER {}", template, owner)
    url = make_conninfo(admin_url, dbname=template, user=owner)
    MigrationRunner(url, support.MIGRATIONS, tmp_path_factory.mktemp("owned") / "log.json").migrate()
    yield owner, template
    run_as_admin(admin_url, "DROP DATABASE {} WITH (FORCE)", template)
    run_as_admin(admin_url, "DROP ROLE {}", owner)


@dataclass
class Owned:
    """A fresh copy of the owned template: its owner, URLs, and roles made for the test."""

    admin_url: str
    owner: str
    name: str
    roles: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return make_conninfo(self.admin_url, dbname=self.name, user=self.owner)

    def url_as(self, role: str) -> str:
        return make_conninfo(self.admin_url, dbname=self.name, user=role)

    def role(self, attributes: str = "") -> str:
        name = new_name("r")
        run_as_admin(self.admin_url, f"CREATE ROLE {{}} LOGIN {attributes}", name)
        self.roles.append(name)
        return name

    def admin(self, statement: str, *names: str) -> None:
        run_as_admin(self.admin_url, statement, *names, dbname=self.name)


@pytest.fixture
def owned(admin_url: str, owned_template: tuple[str, str]) -> Iterator[Owned]:
    owner, template = owned_template
    copy = Owned(admin_url, owner, new_name("eventreg_o"))
    run_as_admin(admin_url, "CREATE DATABASE {} TEMPLATE {} OWNER {}", copy.name, template, owner)
    yield copy
    run_as_admin(admin_url, "DROP DATABASE {} WITH (FORCE)", copy.name)
    for role in reversed(copy.roles):
        run_as_admin(admin_url, "DROP ROLE {}", role)


def acls(url: str) -> list[Any]:
    """Every ACL a grant could touch: the database's, the schema's, and each relation's."""
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT 'database' AS kind, datname::text AS name, datacl::text AS acl FROM pg_database"
            " WHERE datname = current_database()"
            " UNION ALL SELECT 'schema', nspname::text, nspacl::text FROM pg_namespace WHERE nspname = current_schema()"
            " UNION ALL SELECT 'relation', relname::text, relacl::text FROM pg_class"
            " WHERE relnamespace = current_schema()::regnamespace ORDER BY 1, 2"
        ).fetchall()
    return [tuple(r.values()) for r in rows]


def recorded(url: str) -> list[str]:
    if scalar(url, "SELECT to_regclass('eventreg_app_roles') IS NULL"):
        return []
    with connect(url, autocommit=True) as conn:
        return [r["role"] for r in conn.execute("SELECT role FROM eventreg_app_roles ORDER BY role")]


def test_grant_to_the_connected_owner_is_refused_and_the_owner_keeps_running_the_tools(cli, owned, monkeypatch):
    point_cli_at(monkeypatch, owned.url)
    before = acls(owned.url)
    result = cli("db", "grant", owned.owner)
    assert result.exit_code == 1, result.output
    said = f"refusing to grant the application privileges to {owned.owner}: it is the role this command is connected as"
    assert said in result.stderr and "Granted" not in result.output
    assert acls(owned.url) == before and recorded(owned.url) == []
    for args in (("rollback", "--yes"), ("migrate",), ("seed",), ("seed", "--undo", "--yes")):
        done = cli("db", *args)
        assert done.exit_code == 0, (args, done.output)


def as_a_member_with_inherit(owned: Owned) -> str:
    member = owned.role()
    owned.admin("GRANT {} TO {}", owned.owner, member)
    return member


def as_a_member_without_inherit(owned: Owned) -> str:
    member = owned.role("NOINHERIT")
    owned.admin("GRANT {} TO {}", owned.owner, member)
    return member


def as_a_member_of_a_member(owned: Owned) -> str:
    group, member = owned.role(), owned.role()
    owned.admin("GRANT {} TO {}", owned.owner, group)
    owned.admin("GRANT {} TO {}", group, member)
    return member


def as_the_owner_of_a_function(owned: Owned) -> str:
    role = owned.role()
    owned.admin("CREATE FUNCTION public.planted() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    owned.admin("ALTER FUNCTION public.planted() OWNER TO {}", role)
    return role


def as_the_owner_of_the_schema(owned: Owned) -> str:
    role = owned.role()
    owned.admin("ALTER SCHEMA public OWNER TO {}", role)
    owned.admin("GRANT CREATE, USAGE ON SCHEMA public TO {}", owned.owner)  # the owner can still make its tables
    return role


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (as_a_member_with_inherit, "is a member of {owner}, which owns table "),
        (as_a_member_without_inherit, "is a member of {owner}, which owns table "),
        (as_a_member_of_a_member, "is a member of {owner}, which owns table "),
        (as_the_owner_of_a_function, "owns function planted"),
        (as_the_owner_of_the_schema, "owns schema public"),
        (lambda owned: owned.role("SUPERUSER"), "is a superuser"),
        (lambda owned: owned.role("BYPASSRLS"), "has BYPASSRLS"),
    ],
    ids=["member", "member-noinherit", "indirect-member", "function-owner", "schema-owner", "superuser", "bypassrls"],
)
def test_grant_refuses_a_role_the_grants_would_not_restrict(
    cli, owned, monkeypatch, make: Callable[[Owned], str], why: str
):
    role = make(owned)
    point_cli_at(monkeypatch, owned.url)
    before = acls(owned.url)
    result = cli("db", "grant", role)
    assert result.exit_code == 1, result.output
    assert f"refusing to grant the application privileges to {role}: it {why.format(owner=owned.owner)}" in (
        result.stderr
    )
    assert "Granted" not in result.output
    assert acls(owned.url) == before and recorded(owned.url) == []


def test_grant_to_the_table_owner_from_a_member_of_it_is_refused(cli, owned, monkeypatch):
    """An operator who logs in as their own role, a member of the role that owns the tables."""
    operator = as_a_member_with_inherit(owned)
    point_cli_at(monkeypatch, owned.url_as(operator))
    before = acls(owned.url)
    result = cli("db", "grant", owned.owner)
    assert result.exit_code == 1, result.output
    assert f"to {owned.owner}: it owns table audit_log and " in result.stderr
    assert acls(owned.url) == before and recorded(owned.url) == []
    assert cli("db", "grant", operator).exit_code == 1  # nor the operator's own role


def test_a_separate_role_is_still_granted(cli, owned, monkeypatch):
    app = owned.role()
    point_cli_at(monkeypatch, owned.url)
    result = cli("db", "grant", app)
    assert result.exit_code == 0, result.output
    assert recorded(owned.url) == [app]
    with connect(owned.url_as(app), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_migrate_skips_an_owner_recorded_by_an_older_eventreg_and_keeps_its_rights(
    owned, migrations, tmp_path, monkeypatch
):
    app = owned.role()
    with connect(owned.url, autocommit=True) as conn:
        privileges.grant_app_role(conn, app)
        # what `db grant OWNER` of an older eventreg left behind (after the owner's rights were restored by hand)
        conn.execute("INSERT INTO eventreg_app_roles (role) VALUES (%s)", (owned.owner,))
        assert privileges.unsafe_recorded_roles(conn) == {owned.owner: "is the role this command is connected as"}
    write(migrations / "up" / f"{NEXT}_event_tags.sql", "CREATE TABLE event_tags (id int PRIMARY KEY);\n")
    write(migrations / "down" / f"{NEXT}_event_tags.sql", "DROP TABLE event_tags;\n")
    monkeypatch.setitem(privileges.APP_GRANTS, "event_tags", ("SELECT",))
    said: list[tuple[str, Any]] = []
    run = MigrationRunner(owned.url, migrations, tmp_path / "log.json", report=lambda k, f, i: said.append((k, i)))
    run.migrate()
    assert [i["role"] for k, i in said if k == "regranted"] == [app]
    assert scalar(owned.url, "SELECT has_table_privilege('schema_migrations', 'INSERT, DELETE')")
    assert scalar(owned.url, "SELECT has_table_privilege(%s, 'event_tags', 'SELECT')", (app,))
    assert [f.version for f in run.rollback()] == [NEXT]
    run.migrate()
