"""`db doctor` finds the schema objects the invariants rely on missing or out of force,
each planted for real, and its list of them follows the migration files."""

from __future__ import annotations

import re

import pytest

from eventreg.db.connection import connect
from eventreg.db.doctor import SCHEMA_OBJECTS, run_checks
from eventreg.db.migrations import MigrationRunner
from tests import support
from tests.db.test_doctor import EVENT, STUDENT, failing, plant, seat

# what is planted -> the line schema_objects_present must show
BROKEN: dict[str, tuple[list[str], str]] = {
    "unique index dropped": (
        ["DROP INDEX registrations_one_live_per_user"],
        "unique index registrations_one_live_per_user on registrations: missing",
    ),
    "unique index made plain": (
        ["DROP INDEX users_email_lower_key", "CREATE INDEX users_email_lower_key ON users (lower(email))"],
        "unique index users_email_lower_key on users: not unique",
    ),
    "check dropped": (
        ["ALTER TABLE events DROP CONSTRAINT events_seats_within_capacity"],
        "check events_seats_within_capacity on events: missing",
    ),
    "check not validated": (
        ["ALTER TABLE registrations DROP CONSTRAINT registrations_rank_iff_waitlisted",
         "ALTER TABLE registrations ADD CONSTRAINT registrations_rank_iff_waitlisted"
         " CHECK ((status = 'waitlisted') = (waitlist_rank IS NOT NULL)) NOT VALID"],
        "check registrations_rank_iff_waitlisted on registrations: not validated",
    ),
    "triggers disabled": (
        ["ALTER TABLE registrations DISABLE TRIGGER USER"],
        "trigger registrations_count_deleted on registrations: disabled",
    ),
    "trigger for replicas only": (
        ["ALTER TABLE registrations ENABLE REPLICA TRIGGER registrations_count_inserted"],
        "trigger registrations_count_inserted on registrations: fires only on replicas",
    ),
    "seat function dropped": (["DROP FUNCTION eventreg_take_place"], "function eventreg_take_place: missing"),
    "rank sequence dropped": (["DROP SEQUENCE waitlist_rank_seq"], "sequence waitlist_rank_seq: missing"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_doctor_names_each_missing_or_disabled_schema_object(cli, db, case):
    statements, expected = BROKEN[case]
    plant(db, statements)
    result = cli("db", "doctor")
    assert result.exit_code == 1, result.output
    found = failing(result.stdout)
    assert any(line.startswith(expected) for line in found["schema_objects_present"]), found


def test_every_counting_trigger_disabled_is_named(cli, db):
    plant(db, ["ALTER TABLE registrations DISABLE TRIGGER USER"])
    found = failing(cli("db", "doctor").stdout)["schema_objects_present"]
    assert found == [
        f"trigger registrations_count_{op} on registrations: disabled" for op in ("deleted", "inserted", "updated")
    ]


def test_a_check_whose_sequence_is_gone_says_so_and_the_others_still_run(cli, db):
    plant(db, ["DROP SEQUENCE waitlist_rank_seq"])
    result = cli("db", "doctor")
    assert result.exit_code == 1 and "unexpected" not in result.output
    found = failing(result.stdout)
    assert found["rank_sequence_ahead"] == ['the check could not run: relation "waitlist_rank_seq" does not exist']
    assert set(found) == {"rank_sequence_ahead", "schema_objects_present"}
    assert "[migration_files_match]" in result.stdout  # the history checks after it ran too


def test_a_rank_sequence_behind_after_a_join_is_caught(cli, db):
    plant(db, [EVENT, seat(STUDENT, "waitlisted"), "SELECT setval('waitlist_rank_seq', 1, false)"])
    found = failing(cli("db", "doctor").stdout)
    assert found["rank_sequence_ahead"] == ["waitlist_rank_seq gives 1 next, but rank 1 is in use"]
    plant(db, ["SELECT setval('waitlist_rank_seq', 1, true)"])  # nextval gives 2: ahead again
    assert "rank_sequence_ahead" not in failing(cli("db", "doctor").stdout)


def test_objects_of_migrations_not_applied_yet_are_not_required(empty_db, tmp_path):
    MigrationRunner(empty_db, support.MIGRATIONS, tmp_path / "log.json").migrate(to="0007")
    with connect(empty_db, autocommit=True) as conn:
        [schema] = [r for r in run_checks(conn) if r["check"] == "schema_objects_present"]
    assert schema["ok"], schema  # 0008's triggers and 0011's functions come later


# What the files create by name, of the kinds the doctor expects; names a later file drops are gone.
CREATED = re.compile(
    r"CREATE\s+(?:UNIQUE\s+INDEX|TRIGGER|FUNCTION|SEQUENCE)\s+(\w+)|CONSTRAINT\s+(\w+)\s+CHECK", re.IGNORECASE
)
DROPPED = re.compile(r"DROP\s+(?:INDEX|TRIGGER|FUNCTION|SEQUENCE|CONSTRAINT)\s+(?:IF\s+EXISTS\s+)?(\w+)", re.I)


def named_in_migrations() -> dict[str, str]:
    """name -> version of the file that creates it, for what is still there after the last file."""
    names: dict[str, str] = {}
    for path in sorted((support.MIGRATIONS / "up").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        for match in CREATED.finditer(text):
            names[match.group(1) or match.group(2)] = path.name[:4]
        for match in DROPPED.finditer(text):
            names.pop(match.group(1), None)
    return names


def test_the_doctor_expects_every_object_the_migrations_name():
    listed = {item.name: item.version for item in SCHEMA_OBJECTS}
    named = named_in_migrations()
    assert {name: listed.get(name) for name in named} == named


def test_each_object_the_doctor_expects_comes_from_its_migration():
    named = named_in_migrations()
    for item in SCHEMA_OBJECTS:
        if item.name in named:
            assert named[item.name] == item.version, item
        else:  # a name PostgreSQL gives a column's CHECK or UNIQUE: its table is made in that file
            assert re.fullmatch(rf"{item.table}_\w+_(check|key)", item.name), item
            up = next((support.MIGRATIONS / "up").glob(f"{item.version}_*.sql")).read_text(encoding="utf-8")
            assert f"CREATE TABLE {item.table} (" in up, item
