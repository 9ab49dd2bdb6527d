"""What the migration and seed runners refuse to run, and what one file may not do to the next.

A file that commits on its own would break the promise that it commits with its history
row or not at all; a file that sets the session's search_path would decide where the next
file's tables land. Each is planted in a real database here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventreg.db.migrations import MigrationRunner
from eventreg.db.seeds import SeedRunner
from eventreg.errors import DomainError, InvalidInput
from tests.db.fixtures import NEXT, SHIPPED, applied_versions, scalar, write

AFTER = f"{int(NEXT) + 1:04d}"


def runner(url: str, directory: Path, tmp_path: Path, **kwargs: Any) -> MigrationRunner:
    return MigrationRunner(url, directory, tmp_path / "migration.history.json", **kwargs)


def test_a_file_that_commits_on_its_own_is_refused_before_anything_runs(bare_db, migrations, tmp_path):
    write(migrations / "up" / f"{NEXT}_first.sql", "CREATE TABLE t_first (id int);\n")
    write(
        migrations / "up" / f"{AFTER}_explicit.sql",
        "BEGIN;\nCREATE TABLE t_a (id int);\nCOMMIT;\nCREATE TABLE t_b (id int);\nSELECT 1/0;\n",
    )
    with pytest.raises(InvalidInput, match=rf"{AFTER}_explicit.sql line 1: BEGIN controls the transaction"):
        runner(bare_db, migrations, tmp_path).migrate()
    assert applied_versions(bare_db) == SHIPPED  # not even the good file before it ran
    assert scalar(bare_db, "SELECT to_regclass('t_a') IS NULL AND to_regclass('t_first') IS NULL")


def test_a_seed_that_commits_on_its_own_is_refused_and_nothing_is_seeded(bare_db, seeders):
    users = seeders / "sql" / "0001_users.sql"
    text = users.read_text()
    header_end = text.index("INSERT")
    write(users, text[:header_end] + "BEGIN;\n" + text[header_end:] + "\nCOMMIT;\n")
    with pytest.raises(InvalidInput, match=r"0001_users.sql line \d+: BEGIN controls the transaction"):
        SeedRunner(bare_db, seeders).run()
    assert scalar(bare_db, "SELECT count(*) FROM users") == 0
    assert scalar(bare_db, "SELECT to_regclass('seed_history') IS NULL OR (SELECT count(*) = 0 FROM seed_history)")


def test_what_one_file_sets_for_the_session_does_not_reach_the_next(bare_db, migrations, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_reporting.sql",
        "CREATE SCHEMA reporting;\nSET search_path = reporting, public;\n"
        "SET session_replication_role = replica;\nCREATE TABLE daily_signups (day date);\n",
    )
    write(migrations / "up" / f"{AFTER}_tags.sql", "CREATE TABLE event_tags (tag text);\n")
    runner(bare_db, migrations, tmp_path).migrate()
    assert scalar(bare_db, "SELECT to_regclass('reporting.daily_signups')::text") == "reporting.daily_signups"
    assert scalar(bare_db, "SELECT to_regclass('public.event_tags')::text") == "event_tags"
    assert applied_versions(bare_db)[-2:] == [NEXT, AFTER]  # the history rows went where they belong


def test_versions_that_differ_only_in_zeros_are_one_version_and_refused(bare_db, migrations, tmp_path):
    write(migrations / "up" / f"{NEXT}_a.sql", "CREATE TABLE dup_a (id int);\n")
    write(migrations / "up" / f"0{NEXT}_b.sql", "CREATE TABLE dup_b (id int);\n")
    with pytest.raises(InvalidInput, match=rf"two files share version {int(NEXT)}"):
        runner(bare_db, migrations, tmp_path).migrate()
    assert applied_versions(bare_db) == SHIPPED


def test_a_file_that_is_not_utf8_is_named_not_a_crash(bare_db, migrations, tmp_path):
    (migrations / "up" / f"{NEXT}_latin1.sql").write_bytes("-- café\nSELECT 1;\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match=rf"{NEXT}_latin1.sql is not UTF-8 \(byte 0xe9"):
        runner(bare_db, migrations, tmp_path).migrate()
    with pytest.raises(InvalidInput, match="not UTF-8"):
        runner(bare_db, migrations, tmp_path).status()


def test_migrate_to_a_version_older_than_the_newest_applied_says_so(bare_db, migrations, tmp_path):
    with pytest.raises(DomainError, match=r"--to 2 is older than the newest applied migration .* rollback --to 2"):
        runner(bare_db, migrations, tmp_path).migrate(to="2")
    assert applied_versions(bare_db) == SHIPPED


def test_a_down_file_with_no_statement_is_refused_and_nothing_is_rolled_back(bare_db, migrations, tmp_path):
    write(migrations / "up" / f"{NEXT}_tags.sql", "CREATE TABLE tags (tag text);\n")
    write(migrations / "down" / f"{NEXT}_tags.sql", f"-- {NEXT}_tags.sql: undo it\n")
    run = runner(bare_db, migrations, tmp_path)
    run.migrate()
    with pytest.raises(InvalidInput, match=rf"{NEXT}_tags.sql has no SQL statement"):
        run.rollback(steps=1)
    assert applied_versions(bare_db)[-1] == NEXT
    assert scalar(bare_db, "SELECT to_regclass('tags')::text") == "tags"


def test_a_no_transaction_file_with_a_do_block_and_two_statements_on_a_line_runs(bare_db, migrations, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_concurrently.sql",
        "-- eventreg:no-transaction\n"
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'x') THEN PERFORM 1; END IF; END $$;\n"
        "CREATE INDEX CONCURRENTLY users_name_idx ON users (name); CREATE INDEX CONCURRENTLY users_created_idx"
        " ON users (created_at);\n",
    )
    runner(bare_db, migrations, tmp_path).migrate()
    assert applied_versions(bare_db)[-1] == NEXT
    assert (
        scalar(bare_db, "SELECT count(*) FROM pg_class WHERE relname IN ('users_name_idx', 'users_created_idx')") == 2
    )


def test_the_database_named_first_is_the_one_libpq_will_reach_environment_included(monkeypatch):
    """`Database: ...` and the history log's label follow libpq: what the string leaves out
    comes from PGHOST, PGPORT, PGDATABASE and PGUSER, and no host means its default socket."""
    from eventreg.db.connection import describe
    from eventreg.db.history_log import database_label

    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    assert (
        describe("postgresql://app:secret@db.example:6432/events") == "database events on host db.example:6432 as app"
    )
    assert describe("postgresql://postgres@") == "database postgres on the default socket, port 5432 as postgres"
    monkeypatch.setenv("PGHOST", "/tmp/operator/run")
    monkeypatch.setenv("PGDATABASE", "t4")
    assert describe("postgresql://postgres@") == "database t4 on socket /tmp/operator/run:5432 as postgres"
    assert database_label("postgresql://postgres@") == "t4 on socket /tmp/operator/run:5432"
    assert describe("postgresql://postgres@h2/other") == "database other on host h2:5432 as postgres"  # the string wins


def test_a_migration_waits_for_a_table_lock_only_so_long_then_stops_having_changed_nothing(
    bare_db, migrations, tmp_path
):
    """While a migration waits for a table's lock, every command touching the table queues
    behind it: lock_timeout (EVENTREG_TABLE_LOCK_WAIT_MS) makes it give up instead."""
    from eventreg.db.apply import MigrationFailed
    from eventreg.db.connection import connect

    write(migrations / "up" / f"{NEXT}_column.sql", "ALTER TABLE events ADD COLUMN room text;\n")
    with connect(bare_db) as reader:  # a long report, reading events in an open transaction
        reader.execute("SELECT count(*) FROM events")
        with pytest.raises(MigrationFailed, match=r"lock timeout .*EVENTREG_TABLE_LOCK_WAIT_MS"):
            runner(bare_db, migrations, tmp_path, table_lock_wait_ms=200).migrate()
    assert applied_versions(bare_db) == SHIPPED
    assert scalar(bare_db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'room'") == 0
    runner(bare_db, migrations, tmp_path, table_lock_wait_ms=200).migrate()  # the reader is gone: it runs
    assert applied_versions(bare_db)[-1] == NEXT


def test_a_temporary_table_named_like_the_history_cannot_hide_it(bare_db, migrations, seeders, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_shadow.sql",
        "CREATE TEMP TABLE schema_migrations (LIKE public.schema_migrations INCLUDING ALL);\n"
        "CREATE TABLE t_shadow (id int);\n",
    )
    write(migrations / "up" / f"{AFTER}_after.sql", "CREATE TABLE t_after (id int);\n")
    runner(bare_db, migrations, tmp_path).migrate()
    assert applied_versions(bare_db)[-2:] == [NEXT, AFTER]  # recorded in the real table, both
    users = seeders / "sql" / "0001_users.sql"
    text = users.read_text()
    at = text.index("INSERT")
    write(users, text[:at] + "CREATE TEMP TABLE seed_history (LIKE public.seed_history INCLUDING ALL);\n" + text[at:])
    SeedRunner(bare_db, seeders).run()
    assert scalar(bare_db, "SELECT count(*) FROM seed_history") == 4


def test_a_no_transaction_file_that_sets_its_search_path_is_still_recorded_right(bare_db, migrations, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_reporting.sql",
        "-- eventreg:no-transaction\nCREATE SCHEMA reporting;\nSET search_path = reporting;\n"
        "CREATE TABLE daily (id int);\nCREATE INDEX CONCURRENTLY daily_id ON daily (id);\n",
    )
    runner(bare_db, migrations, tmp_path).migrate()
    assert applied_versions(bare_db)[-1] == NEXT
    assert scalar(bare_db, "SELECT to_regclass('reporting.daily_id')::text") == "reporting.daily_id"
    assert scalar(bare_db, "SELECT count(*) FROM schema_migration_failures") == 0


def test_a_file_that_releases_the_runner_lock_is_stopped(bare_db, migrations, seeders, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_unlock.sql", "SELECT pg_advisory_unlock_all();\nCREATE TABLE t_unlock (id int);\n"
    )
    from eventreg.db.apply import MigrationFailed
    from eventreg.db.seeds import SeedFailed

    with pytest.raises(MigrationFailed, match=rf"{NEXT}_unlock.sql released the migration lock"):
        runner(bare_db, migrations, tmp_path).migrate()
    assert applied_versions(bare_db) == SHIPPED
    assert scalar(bare_db, "SELECT to_regclass('t_unlock')") is None
    events = seeders / "sql" / "0003_events.sql"
    write(events, events.read_text() + "\nSELECT pg_advisory_unlock_all();\n")
    with pytest.raises(SeedFailed, match="released the seed lock"):
        SeedRunner(bare_db, seeders).run()
    assert scalar(bare_db, "SELECT count(*) FROM users") == 0


def test_an_index_built_concurrently_waits_for_old_snapshots_past_the_table_lock_wait(bare_db, migrations, tmp_path):
    """CREATE INDEX CONCURRENTLY waits for every older snapshot; stopped by the lock timeout it
    would leave an invalid index, so no-transaction files run without one."""
    import threading

    from eventreg.db.connection import connect
    from tests.support import poll

    write(
        migrations / "up" / f"{NEXT}_title.sql",
        "-- eventreg:no-transaction\nCREATE INDEX CONCURRENTLY events_title_idx ON events (title);\n",
    )
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            runner(bare_db, migrations, tmp_path, table_lock_wait_ms=200).migrate()
        except BaseException as exc:  # reported below
            errors.append(exc)

    with connect(bare_db) as reader:  # a long report holding a snapshot
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM users")
        building = threading.Thread(target=migrate)
        building.start()
        waited = (
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%'"
            " AND wait_event_type = 'Lock' AND clock_timestamp() - query_start > interval '1 second'"
        )

        def still_waiting_past_the_lock_wait() -> bool | None:
            assert building.is_alive(), errors  # without the fix it gives up after 200 ms
            return True if scalar(bare_db, waited) else None

        poll(still_waiting_past_the_lock_wait, "the index build waiting for the report for a second")
    building.join(60)
    assert errors == []
    assert scalar(bare_db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_title_idx'::regclass") is True
