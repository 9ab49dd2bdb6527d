"""`eventreg db ...` from the command line: what it prints, its exit codes, what the database holds after."""

from __future__ import annotations

import json

import pytest

from tests.db import fixtures
from tests.db.fixtures import SHIPPED, applied_versions, point_cli_at, scalar

# The database fixtures of tests/db, by name (pytest finds fixtures in the module).
bare_db = fixtures.bare_db
bare_template = fixtures.bare_template
empty_db = fixtures.empty_db
migrations = fixtures.migrations


@pytest.fixture
def fresh(cli, empty_db, monkeypatch):
    """The command line pointed at an empty database."""
    point_cli_at(monkeypatch, empty_db)
    return empty_db


@pytest.fixture
def bare(cli, bare_db, monkeypatch):
    point_cli_at(monkeypatch, bare_db)
    return bare_db


def test_migrate_says_which_database_first_then_each_file(cli, fresh):
    result = cli("db", "migrate")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    name = fresh.rsplit("dbname=", 1)[1].split()[0]
    assert lines[0].startswith(f"Database: database {name} on socket") and lines[0].endswith("environment: test")
    assert lines[1] == "Running migration: 0001_create_users_table.sql"
    status = json.loads(cli("db", "status", "--json").stdout)
    assert [row["state"] for row in status] == ["applied"] * len(SHIPPED)
    assert set(status[0]) == {"version", "name", "state", "applied_at", "checksum", "detail"}


def test_the_database_line_masks_the_password(cli, monkeypatch):
    point_cli_at(monkeypatch, "postgresql://app:s3cret@127.0.0.1:1/nowhere")
    result = cli("db", "migrate")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[0] == "Database: database nowhere on host 127.0.0.1:1 as app; environment: test"
    assert "s3cret" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("how", "name"), [("flag", "prod"), ("variable", "test"), ("dotenv", "prod")])
def test_an_environment_without_its_url_is_an_error_before_anything_starts(cli, env, monkeypatch, tmp_path, how, name):
    variable = f"DATABASE_URL_{name.upper()}"
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("EVENTREG_ENV")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/dev")  # the dev URL must not be used
    args = ["db", "migrate"]
    if how == "flag":
        args = ["--env", name, *args]
    elif how == "variable":
        monkeypatch.setenv("EVENTREG_ENV", name)
    else:
        (tmp_path / ".env").write_text(f"EVENTREG_ENV={name}\n")
    result = cli(*args)
    assert result.exit_code == 5
    assert f"--env {name} needs {variable}" in result.stderr
    assert result.stderr.count("\n") == 1 and "Database:" not in result.stderr  # nothing started, nothing said
    assert not (env / "pgdata").exists()


def test_rollback_says_what_it_drops_then_needs_yes_without_a_terminal(cli, fresh):
    cli("db", "migrate", "--to", "10")  # 0009 and 0010 drop tables, which the plan must name
    result = cli("db", "rollback", "--steps", "2")
    assert result.exit_code == 2
    assert "Rolling back 2 migration(s), newest first:" in result.stderr
    assert "0010_event_organisers.sql drops table event_organisers (0 rows)" in result.stderr
    assert "pass --yes" in result.stderr
    assert applied_versions(fresh) == SHIPPED[:10]
    dry = cli("db", "rollback", "--to", "8", "--dry-run")
    assert dry.exit_code == 0 and "-- would revert 0009_attempt_limits_and_question_catalogue.sql" in dry.stdout
    assert "DROP TABLE event_organisers;" in dry.stdout
    assert applied_versions(fresh) == SHIPPED[:10]
    done = cli("db", "rollback", "--to", "8", "--yes")
    assert done.exit_code == 0 and "Rolled back 2 migration(s)." in done.stderr
    assert applied_versions(fresh) == SHIPPED[:8]


def test_rollback_of_too_many_steps_is_refused(cli, fresh):
    cli("db", "migrate", "--to", "3")
    result = cli("db", "rollback", "--steps", "4", "--yes")
    assert result.exit_code == 1 and "asks for more than the 3 applied" in result.stderr
    assert applied_versions(fresh) == ["0001", "0002", "0003"]


def test_seed_undo_says_who_goes_then_needs_yes(cli, bare):
    seeded = cli("db", "seed")
    assert seeded.exit_code == 0 and "Seeded users table with 5 default users" in seeded.stderr
    assert json.loads(cli("db", "seed", "status", "--json").stdout)[0]["state"] == "applied"
    asked = cli("db", "seed", "--undo")
    assert asked.exit_code == 2 and "pass --yes" in asked.stderr
    assert "people: admin@example.edu, alice@example.edu" in asked.stderr
    assert "deletes 7 row(s) of registrations" in asked.stderr
    assert scalar(bare, "SELECT count(*) FROM users") == 5
    dry = cli("db", "seed", "--undo", "--dry-run")
    assert dry.exit_code == 0 and "would be undone (dry run, nothing changed)" in dry.stderr
    assert scalar(bare, "SELECT count(*) FROM users") == 5
    undo = cli("db", "seed", "--undo", "--yes")
    assert undo.exit_code == 0 and "Undid 4 seed(s)." in undo.stderr
    assert scalar(bare, "SELECT count(*) FROM users") == 0
    assert cli("db", "doctor").exit_code == 0


def test_seed_undo_only_one_table(cli, bare):
    cli("db", "seed")
    result = cli("db", "seed", "--undo", "--only", "registrations", "--yes")
    assert result.exit_code == 0 and "Undid 1 seed(s)." in result.stderr
    states = {row["table"]: row["state"] for row in json.loads(cli("db", "seed", "status", "--json").stdout)}
    assert states["registrations"] == "pending" and states["events"] == "applied"


def test_repair_needs_yes_and_a_dry_run_changes_nothing(cli, fresh, migrations):
    cli("db", "migrate", "--migrations-dir", str(migrations))
    path = migrations / "up" / "0004_create_events_table.sql"
    path.write_text(path.read_text() + "-- reworded\n")
    refused = cli("db", "migrate", "--migrations-dir", str(migrations))
    assert refused.exit_code == 1 and "0004_create_events_table.sql" in refused.stderr
    asked = cli("db", "repair", "--migrations-dir", str(migrations))
    assert asked.exit_code == 2 and "0004_create_events_table.sql: changed since it was applied" in asked.stderr
    assert cli("db", "repair", "--dry-run", "--migrations-dir", str(migrations)).exit_code == 0
    assert cli("db", "migrate", "--migrations-dir", str(migrations)).exit_code == 1
    assert cli("db", "repair", "--yes", "--migrations-dir", str(migrations)).exit_code == 0
    assert cli("db", "migrate", "--migrations-dir", str(migrations)).exit_code == 0


def test_usage_errors_exit_2(cli):
    assert cli("db", "rollback", "--steps", "many").exit_code == 2
    assert cli("db", "seed", "--dry-run").exit_code == 2


def test_db_new_starts_a_folder_of_ones_own_from_the_shipped_migrations(cli, fresh, tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTREG_MIGRATIONS_DIR", raising=False)
    nowhere = cli("db", "new", "add_tags")
    assert nowhere.exit_code == 2 and "db new needs --migrations-dir" in nowhere.stderr
    folder = tmp_path / "mine"
    made = cli("db", "new", "add tags", "--migrations-dir", str(folder))
    assert made.exit_code == 0, made.output
    following = f"{int(SHIPPED[-1]) + 1:04d}_add_tags.sql"
    assert made.stdout.splitlines() == [str(folder / "up" / following), str(folder / "down" / following)]
    assert f"Copied the {len(SHIPPED)} shipped migrations into {folder}" in made.stderr
    unwritten = cli("db", "migrate", "--migrations-dir", str(folder))
    assert unwritten.exit_code == 2 and f"{following} has no SQL statement" in unwritten.stderr
    assert applied_versions(fresh) == []  # refused before anything ran
    (folder / "up" / following).write_text("CREATE TABLE tags (tag text);\n")
    (folder / "down" / following).write_text("DROP TABLE tags;\n")
    assert cli("db", "migrate", "--migrations-dir", str(folder)).exit_code == 0
    assert applied_versions(fresh) == [*SHIPPED, following[:4]]
    again = cli("db", "new", "more", "--migrations-dir", str(folder))  # a started folder is not copied into
    assert again.exit_code == 0 and "Copied" not in again.stderr
    half = tmp_path / "half"  # down files of one's own, no up files: nothing is overwritten
    (half / "down").mkdir(parents=True)
    (half / "down" / "0001_create_users_table.sql").write_text("-- my own undo\nDROP TABLE users;\n")
    refused = cli("db", "new", "x", "--migrations-dir", str(half))
    assert refused.exit_code == 2 and "put the up files back first" in refused.stderr
    assert (half / "down" / "0001_create_users_table.sql").read_text().startswith("-- my own undo")
