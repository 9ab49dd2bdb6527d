"""`db doctor` finds each violation it claims to check: each is planted by SQL, past the
constraints and the counting trigger where needed, and must be named with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from eventreg.db.connection import connect
from eventreg.db.doctor import CHECKS
from eventreg.db.history_log import database_label

EVENT = (
    "INSERT INTO events (slug, title, capacity, starts_at, ends_at, status)"
    " VALUES ('planted', 'Planted', 2, now() + interval '1 day', now() + interval '2 days', 'published')"
)
STUDENT = "(SELECT id FROM users WHERE email = 'student@example.edu')"
STAFF = "(SELECT id FROM users WHERE email = 'staff@example.edu')"
PLANTED = "(SELECT id FROM events WHERE slug = 'planted')"


def seat(user: str, status: str = "registered") -> str:
    rank = "nextval('waitlist_rank_seq')" if status == "waitlisted" else "NULL"
    at = "now()" if status == "registered" else "NULL"
    columns = "event_id, user_id, status, registered_at, waitlist_rank"
    return f"INSERT INTO registrations ({columns}) VALUES ({PLANTED}, {user}, '{status}', {at}, {rank})"  # noqa: S608


# check -> (statements that plant the violation, texts the findings must contain, split by |)
PLANTS: dict[str, tuple[list[str], str]] = {
    "seat_count_matches": (
        [EVENT, "ALTER TABLE registrations DISABLE TRIGGER registrations_count_inserted", seat(STUDENT),
         "ALTER TABLE registrations ENABLE TRIGGER registrations_count_inserted"],
        "planted: registered_count 0 but 1 registered rows",
    ),
    "waitlist_length_matches": (
        [EVENT, "UPDATE events SET waitlist_length = 3 WHERE slug = 'planted'"],
        "planted: waitlist_length 3 but 0 waitlisted rows",
    ),
    "within_capacity": (
        [EVENT, "ALTER TABLE events DROP CONSTRAINT events_seats_within_capacity",
         "UPDATE events SET registered_count = 3 WHERE slug = 'planted'"],
        "planted: 3/2",
    ),
    "no_free_seat_while_waiting": ([EVENT, seat(STUDENT, "waitlisted")], "planted: 2 free seat(s) and 1 waiting"),
    "one_live_row_per_user": (
        [EVENT, "DROP INDEX registrations_one_live_per_user", seat(STUDENT), seat(STUDENT)],
        "2 live rows",
    ),
    "waitlist_rank_set": (
        [EVENT, "ALTER TABLE registrations DROP CONSTRAINT registrations_rank_iff_waitlisted",
         seat(STUDENT), "UPDATE registrations SET waitlist_rank = 7"],
        "registration ",
    ),
    "waitlist_ranks_unique": (
        [EVENT, seat(STUDENT, "waitlisted"), seat(STAFF, "waitlisted"),
         "UPDATE registrations SET waitlist_rank = 5 WHERE event_id = (SELECT id FROM events WHERE slug = 'planted')"],
        "planted: rank 5 held by 2 waiting rows",
    ),
    "rank_sequence_ahead": (
        [EVENT, seat(STUDENT, "waitlisted"), "SELECT setval('waitlist_rank_seq', 1, false)"],
        "waitlist_rank_seq gives 1 next, but rank 1 is in use",
    ),
    "schema_objects_present": (
        ["DROP INDEX registrations_one_live_per_user",
         "ALTER TABLE events DROP CONSTRAINT events_seats_within_capacity",
         "ALTER TABLE registrations DISABLE TRIGGER USER",
         "DROP FUNCTION eventreg_take_place"],
        "unique index registrations_one_live_per_user on registrations: missing"
        "|check events_seats_within_capacity on events: missing"
        "|trigger registrations_count_inserted on registrations: disabled"
        "|trigger registrations_count_updated on registrations: disabled"
        "|trigger registrations_count_deleted on registrations: disabled"
        "|function eventreg_take_place: missing",
    ),
    "cancelled_events_empty": (
        [EVENT, seat(STUDENT), "UPDATE events SET status = 'cancelled' WHERE slug = 'planted'"],
        "planted: 1 live row(s)",
    ),
    "schedule_in_order": (
        [EVENT, "ALTER TABLE events DROP CONSTRAINT events_ends_after_start",
         "UPDATE events SET ends_at = starts_at WHERE slug = 'planted'"],
        "planted",
    ),
    "no_invalid_indexes": (
        ["UPDATE users SET name = 'Same Name'", "CREATE UNIQUE INDEX CONCURRENTLY users_same_name ON users (name)"],
        "users_same_name on users",
    ),
    "no_failed_migrations": (
        ["INSERT INTO schema_migration_failures (version, name, operation, checksum, started_by, statements,"
         " statements_done) VALUES ('0099', '0099_half.sql', 'migrate', 'x', 'test', 3, 1)"],
        "0099_half.sql: migrate was interrupted (1 of 3 statement(s) ran",
    ),
    "migration_files_match": (
        ["UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0003'",
         "INSERT INTO schema_migrations (version, name, checksum, applied_by, execution_ms)"
         " VALUES ('0098', '0098_gone.sql', 'x', 'test', 1)"],
        "0003_create_sessions_table.sql: changed since it was applied|0098_gone.sql: applied, but missing from",
    ),
}  # fmt: skip


def plant(url: str, statements: list[str]) -> None:
    with connect(url, autocommit=True) as conn:
        for statement in statements:
            try:
                conn.execute(statement)
            except psycopg.Error:
                if "CONCURRENTLY" not in statement:
                    raise  # a concurrent build that fails is how an invalid index is left behind


def failing(result_stdout: str) -> dict[str, list[str]]:
    """check name -> its violation lines, for the checks marked FAIL."""
    found: dict[str, list[str]] = {}
    current = None
    for line in result_stdout.splitlines():
        if line.startswith("FAIL"):
            current = line.rsplit("[", 1)[1].rstrip("]")
            found[current] = []
        elif line.startswith("ok"):
            current = None
        elif current and not line.strip().startswith("note:"):
            found[current].append(line.strip())
    return found


def test_a_clean_database_passes_every_check(cli, db):
    result = cli("db", "doctor")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.stdout and "All invariants hold." in result.stderr
    listed = {line.rsplit("[", 1)[1].rstrip("]") for line in result.stdout.splitlines()}
    assert listed == {name for name, _, _ in CHECKS} | set(PLANTS) | {"history_log_matches"}


@pytest.mark.parametrize("check", sorted(PLANTS))
def test_doctor_finds_each_planted_violation(cli, db, check):
    statements, expected = PLANTS[check]
    plant(db, statements)
    result = cli("db", "doctor")
    assert result.exit_code == 1, result.output
    found = failing(result.stdout)
    assert check in found, result.stdout
    for part in expected.split("|"):
        assert any(part in line for line in found[check]), found[check]
    assert "violation(s) found" in result.stderr


def write_log(home: Path, entries: list[dict[str, Any]]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "migration.history.json").write_text(json.dumps(entries))


def logged(db: str, versions: slice = slice(None)) -> list[dict[str, Any]]:
    """Log entries of this machine having migrated `db` (the applied rows, or a slice of them)."""
    label = database_label(db)
    with connect(db, autocommit=True) as conn:
        rows = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version").fetchall()
    return [
        {"operation": "migrate", "database": label, "version": r["version"], "checksum": r["checksum"]}
        for r in rows[versions]
    ]


def log_check(cli: Any) -> dict[str, Any]:
    result = cli("db", "doctor", "--json")
    return next(c for c in json.loads(result.stdout)["checks"] if c["check"] == "history_log_matches")


def test_doctor_compares_the_local_log_with_the_table(cli, db, env):
    label = database_label(db)
    entries = logged(db)
    write_log(env, entries)
    assert cli("db", "doctor").exit_code == 0
    entries[2]["checksum"] = "other"
    entries.append({"operation": "migrate", "database": label, "version": "0042", "checksum": "x"})
    del entries[0]
    entries.append({"operation": "migrate", "database": "another on host h:5432", "version": "0077", "checksum": "y"})
    write_log(env, entries)
    result = cli("db", "doctor")
    assert result.exit_code == 1
    assert failing(result.stdout)["history_log_matches"] == [
        "0003_create_sessions_table.sql: checksum in the log differs from the database's",
        "0042: the log says applied, the database has no record of it",
    ]
    assert log_check(cli)["notes"] == [
        "0001_create_users_table.sql: applied in the database, not in this machine's log (another machine's?)"
    ]


def test_migrations_another_machine_applied_are_a_note_that_does_not_fail(cli, db, env):
    write_log(env, logged(db, slice(0, 5)))  # this machine applied 0001-0005, another one the rest
    result = cli("db", "doctor")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.stdout and "All invariants hold." in result.stderr
    assert "       note: 0006_create_audit_log_table.sql: applied in the database" in result.stdout
    check = log_check(cli)
    assert check["ok"] is True and check["violations"] == []
    assert check["notes"][0].startswith("0006_create_audit_log_table.sql: applied in the database, not in this")
    assert len(check["notes"]) == len(logged(db)) - 5
    report = json.loads(cli("db", "doctor", "--json").stdout)
    assert report["ok"] is True and report["violations"] == 0


def test_doctor_reports_a_damaged_log_and_leaves_it_where_it_is(cli, env):
    env.mkdir(parents=True, exist_ok=True)
    (env / "migration.history.json").write_text("{not json")
    result = cli("db", "doctor")
    assert result.exit_code == 1
    assert "is damaged: not JSON" in failing(result.stdout)["history_log_matches"][0]
    assert (env / "migration.history.json").read_text() == "{not json"


# entries the log's replay cannot read -> the reason the doctor gives
MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "no version": ({"operation": "migrate", "database": "x"}, "(migrate) has no valid version"),
    "version null": ({"operation": "rollback", "version": None}, "(rollback) has no valid version"),
    "version a number": ({"operation": "migrate", "version": 3, "checksum": "c"}, "(migrate) has no valid version"),
    "no checksum": ({"operation": "migrate", "version": "0001"}, "(migrate) has no valid checksum"),
    "repair without checksum": ({"operation": "repair", "action": "checksum", "version": "0001"}, "no valid checksum"),
    "no operation": ({"version": "0001", "checksum": "c"}, "has no operation"),
    "baseline not a map": ({"operation": "baseline", "applied": ["0001"]}, "(baseline) has no valid"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_log_entry_is_reported_as_damage_not_a_crash(cli, db, env, case):
    entry, reason = MALFORMED[case]
    entry = {**entry, "database": entry.get("database", database_label(db))}
    entries = [*logged(db), entry]
    write_log(env, entries)
    before = (env / "migration.history.json").read_text()
    result = cli("db", "doctor")
    assert result.exit_code == 1, result.output
    assert "unexpected" not in result.output
    [line] = failing(result.stdout)["history_log_matches"]
    assert f"migration.history.json is damaged: entry {len(entries)} " in line and reason in line, line
    assert "`eventreg db migrate` or `db repair` moves it aside" in line
    assert (env / "migration.history.json").read_text() == before


def test_entries_the_replay_does_not_read_need_only_an_operation(cli, db, env):
    label = database_label(db)
    extra = [
        {"operation": "migrate-failed", "database": label, "version": "0099", "error": "boom"},
        {"operation": "something-a-newer-eventreg-writes", "database": label},
        {"operation": "repair", "action": "cleared-failure", "database": label, "version": "0099"},
    ]
    write_log(env, [*logged(db), *extra])
    result = cli("db", "doctor")
    assert result.exit_code == 0, result.output


def test_repair_clears_a_malformed_log_as_the_doctor_says(cli, db, env):
    write_log(env, [{"operation": "migrate", "database": "x"}])
    assert cli("db", "doctor").exit_code == 1
    repaired = cli("db", "repair", "--yes")
    assert repaired.exit_code == 0, repaired.output
    assert "was damaged" in repaired.stderr
    assert len(list(env.glob("migration.history.json.damaged-*"))) == 1
    result = cli("db", "doctor")
    assert result.exit_code == 0, result.output
    assert log_check(cli)["notes"] == []  # the new log starts from the database's record


def test_doctor_json_names_each_check(cli, db):
    plant(db, PLANTS["waitlist_length_matches"][0])
    result = cli("db", "doctor", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    bad = [c["check"] for c in report["checks"] if not c["ok"]]
    assert report["ok"] is False and bad == ["waitlist_length_matches"]
