"""The migration runner against a real PostgreSQL: history that tells the truth."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from eventreg.db.connection import connect
from eventreg.db.history_log import database_label, read_log, replay
from eventreg.db.lock import locked_session
from eventreg.db.migrations import MigrationFailed, MigrationRunner, RollbackPlan
from eventreg.db.repair import repair
from eventreg.errors import DomainError, InvalidInput, NotFound
from tests.db.fixtures import NEXT, SHIPPED, applied_versions, scalar, write


def runner(url: str, directory: Path, tmp_path: Path, **kwargs: Any) -> MigrationRunner:
    return MigrationRunner(url, directory, tmp_path / "migration.history.json", **kwargs)


def catalog(url: str) -> dict[str, Any]:
    """Everything that defines the schema, for comparing before and after."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name NOT LIKE 'schema_migration%' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename NOT LIKE 'schema_migration%' ORDER BY 1"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'schema_migration%'"
            " ORDER BY 1"
        ).fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints}


def log_entries(tmp_path: Path) -> list[dict[str, Any]]:
    return json.loads((tmp_path / "migration.history.json").read_text())


def test_migrate_applies_every_file_and_status_shows_them_applied(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    assert {s.state for s in run.status()} == {"pending"}
    assert [f.version for f in run.migrate()] == SHIPPED
    assert {s.state for s in run.status()} == {"applied"}
    assert run.migrate() == []


def test_up_down_up_leaves_the_same_schema(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate()
    first = catalog(empty_db)
    run.rollback(to="0")
    assert applied_versions(empty_db) == []
    assert catalog(empty_db)["columns"] == []
    run.migrate()
    assert catalog(empty_db) == first


def test_to_takes_a_version_with_or_without_its_zeros(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="3")
    assert applied_versions(empty_db) == ["0001", "0002", "0003"]
    run.migrate(to="0005")
    assert applied_versions(empty_db)[-1] == "0005"
    assert [f.version for f in run.rollback(to="3")] == ["0005", "0004"]
    assert applied_versions(empty_db) == ["0001", "0002", "0003"]
    assert [f.version for f in run.rollback(steps=2)] == ["0003", "0002"]
    with pytest.raises(NotFound, match="0002 is not applied"):
        run.rollback(to="2")
    with pytest.raises(InvalidInput, match="--to takes a migration version"):
        run.migrate(to="latest")


def test_rollback_of_more_steps_than_applied_refuses_and_changes_nothing(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="3")
    with pytest.raises(DomainError, match="--steps 4 asks for more than the 3 applied"):
        run.rollback(steps=4)
    assert applied_versions(empty_db) == ["0001", "0002", "0003"]


def test_rollback_says_what_it_drops_and_a_no_changes_nothing(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate()
    with connect(empty_db, autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, name) VALUES ('a@b.cd', 'A'), ('e@f.gh', 'E')")
    seen: list[RollbackPlan] = []

    def decline(plan: RollbackPlan) -> bool:
        seen.append(plan)
        return False

    with pytest.raises(DomainError, match="nothing was rolled back"):
        run.rollback(to="0", confirm=decline)
    drops = {loss.what: loss.rows for losses in seen[0].losses.values() for loss in losses}
    assert drops["table users"] == 2 and drops["table registrations"] == 0
    assert drops["column events.waitlist_length"] == 0
    assert applied_versions(empty_db) == SHIPPED


def test_failing_migration_names_the_file_the_line_and_rolls_back(empty_db, migrations, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_broken.sql", "CREATE TABLE half_done (id int);\n\nSELECT * FROM no_such_table;\n"
    )
    run = runner(empty_db, migrations, tmp_path)
    with pytest.raises(MigrationFailed, match=rf"{NEXT}_broken.sql failed at line 3: .*no_such_table.*rolled back"):
        run.migrate()
    assert applied_versions(empty_db) == SHIPPED
    assert scalar(empty_db, "SELECT to_regclass('half_done')") is None
    assert [e["version"] for e in log_entries(tmp_path)] == SHIPPED


def test_migrate_refuses_a_modified_applied_file_until_repaired(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="2")
    path = migrations / "up" / "0001_create_users_table.sql"
    path.write_text(path.read_text() + "\n-- an edit\n")
    assert run.status()[0].state == "modified"
    with pytest.raises(DomainError, match="changed since they were applied: 0001_create_users_table.sql"):
        run.migrate()
    assert applied_versions(empty_db) == ["0001", "0002"]
    plan = repair(run)
    assert [c.name for c in plan.checksums] == ["0001_create_users_table.sql"]
    assert run.status()[0].state == "applied"
    run.migrate()
    assert applied_versions(empty_db) == SHIPPED
    assert log_entries(tmp_path)[2]["action"] == "checksum"


def test_migrate_refuses_when_an_applied_file_is_missing_naming_each(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="7")
    (migrations / "up" / "0006_create_audit_log_table.sql").unlink()
    (migrations / "up" / "0003_create_sessions_table.sql").unlink()
    with pytest.raises(DomainError, match="missing from .*: 0003_create_sessions_table.sql, 0006_create_audit_log"):
        run.migrate()
    assert applied_versions(empty_db)[-1] == "0007"  # 0008 and later were not run
    assert {s.version: s.state for s in run.status()}["0006"] == "missing"


def test_line_endings_and_bom_do_not_change_the_checksum(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="1")
    path = migrations / "up" / "0001_create_users_table.sql"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert run.status()[0].state == "applied"


def test_pending_file_older_than_newest_applied_is_refused(empty_db, migrations, tmp_path):
    late = migrations / "up" / "0003_create_sessions_table.sql"
    kept = late.read_text()
    late.unlink()
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="8")
    late.write_text(kept)
    with pytest.raises(DomainError, match="older than the newest applied"):
        run.migrate(to="8")
    run.migrate(to="8", allow_out_of_order=True)
    assert "0003" in applied_versions(empty_db)


def test_missing_down_file_fails_before_anything_runs(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate()
    (migrations / "down" / "0005_create_registrations_table.sql").unlink()
    with pytest.raises(DomainError, match="no down file for 0005"):
        run.rollback(steps=len(SHIPPED) - 3)
    assert applied_versions(empty_db) == SHIPPED


def test_dry_run_changes_nothing(empty_db, migrations, tmp_path):
    seen: list[str] = []
    run = runner(empty_db, migrations, tmp_path, report=lambda kind, f, info: seen.append(kind))
    assert len(run.migrate(dry_run=True)) == len(SHIPPED)
    assert set(seen) == {"would-run"}
    assert scalar(empty_db, "SELECT to_regclass('schema_migrations')") is None
    assert not (tmp_path / "migration.history.json").exists()


def test_no_transaction_file_runs_outside_a_transaction(bare_db, migrations, tmp_path):
    write(
        migrations / "up" / f"{NEXT}_index_concurrently.sql",
        "-- eventreg:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_idx ON users (name);\n",
    )
    runner(bare_db, migrations, tmp_path).migrate()
    assert scalar(bare_db, "SELECT to_regclass('users_name_idx')::text") == "users_name_idx"
    assert applied_versions(bare_db)[-1] == NEXT
    assert scalar(bare_db, "SELECT count(*) FROM schema_migration_failures") == 0


UNIQUE_NAMES = """-- eventreg:no-transaction
-- Two indexes built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_idx ON users (name);

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_name_key
    ON users (name);
"""


def test_a_no_transaction_file_failing_halfway_is_recorded_and_blocks_until_repaired(
    owner, bare_db, migrations, tmp_path
):
    write(migrations / "up" / f"{NEXT}_unique_names.sql", UNIQUE_NAMES)
    write(migrations / "down" / f"{NEXT}_unique_names.sql", "DROP INDEX users_name_key;\nDROP INDEX users_name_idx;\n")
    owner.execute("INSERT INTO users (email, name) VALUES ('a@x.edu', 'Twin'), ('b@x.edu', 'Twin')")
    run = runner(bare_db, migrations, tmp_path)
    with pytest.raises(MigrationFailed, match=r"unique_names.sql failed at line 5 \(statement 2 of 2\).*Twin") as err:
        run.migrate()
    assert "nothing was rolled back: 1 statement(s) before it stay applied" in str(err.value)
    assert "rolled back, nothing" not in str(err.value)
    state = run.status()[-1]
    assert (state.state, state.version) == ("failed", NEXT)
    assert "1 of 2 statement(s) ran" in str(state.detail)
    for attempt in (run.migrate, run.rollback):
        with pytest.raises(DomainError, match="unique_names.sql: migrate failed at line 5.*db repair"):
            attempt()
    with pytest.raises(DomainError, match="invalid index.*users_name_key"):
        repair(run)
    # The operator fixes the data and drops the invalid index, then says so.
    owner.execute("DELETE FROM users WHERE email = 'b@x.edu'")
    owner.execute("DROP INDEX users_name_key")
    assert [f.version for f in repair(run).failures] == [NEXT]
    run.migrate()
    assert applied_versions(bare_db)[-1] == NEXT
    assert scalar(bare_db, "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'users'::regclass") is True
    operations = [e["operation"] for e in log_entries(tmp_path) if e["version"] == NEXT]
    assert operations == ["migrate-failed", "repair", "migrate"]


def test_concurrent_migrate_runs_apply_each_file_once(empty_db, migrations, tmp_path):
    first = migrations / "up" / "0001_create_users_table.sql"
    first.write_text("SELECT pg_sleep(0.3);\n" + first.read_text())
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(len(runner(empty_db, migrations, tmp_path).migrate()))
        except Exception as exc:  # collected and asserted on below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, len(SHIPPED)]  # type: ignore[type-var]
    assert applied_versions(empty_db) == SHIPPED


def test_lock_timeout_names_the_holder(empty_db, migrations, tmp_path):
    with locked_session(empty_db, "migrate", 1):
        with pytest.raises(DomainError, match=r"pid \d+.*eventreg migrate since"):
            runner(empty_db, migrations, tmp_path, lock_timeout=0.2).migrate()
        with pytest.raises(DomainError, match=r"pid \d+.*eventreg migrate since"):
            runner(empty_db, migrations, tmp_path, lock_timeout=0.2).rollback()
    assert applied_versions(empty_db) == []


def test_the_log_names_the_database_and_environment_and_keeps_rollbacks(empty_db, migrations, tmp_path):
    run = runner(empty_db.replace("dbname=", "password=hunter22 dbname="), migrations, tmp_path, env="test")
    run.migrate(to="2")
    run.rollback()
    entries = log_entries(tmp_path)
    assert [(e["operation"], e["version"]) for e in entries] == [
        ("migrate", "0001"),
        ("migrate", "0002"),
        ("rollback", "0002"),
    ]
    assert {e["database"] for e in entries} == {database_label(empty_db)}
    assert {e["env"] for e in entries} == {"test"}
    assert "hunter22" not in (tmp_path / "migration.history.json").read_text()


def test_a_damaged_log_is_moved_aside_and_said_so(empty_db, migrations, tmp_path):
    log = write(tmp_path / "migration.history.json", '[{"operation": "migrate", "version": "00')
    said: list[dict[str, Any]] = []
    run = runner(empty_db, migrations, tmp_path, report=lambda kind, f, info: kind == "log-moved" and said.append(info))
    run.migrate(to="1")
    assert len(said) == 1 and "not JSON" in said[0]["reason"]
    assert said[0]["path"].read_text().startswith('[{"operation": "migrate", "version": "00')
    assert [(e["operation"], e.get("version")) for e in json.loads(log.read_text())] == [
        ("baseline", None),
        ("migrate", "0001"),
    ]


def test_a_database_migrated_by_an_older_eventreg_gets_the_failures_table_on_rollback(
    bare_db, owner, migrations, tmp_path
):
    write(
        migrations / "up" / f"{NEXT}_idx.sql",
        "-- eventreg:no-transaction\nCREATE INDEX CONCURRENTLY i1 ON users (name);\n",
    )
    write(migrations / "down" / f"{NEXT}_idx.sql", "-- eventreg:no-transaction\nDROP INDEX CONCURRENTLY i1;\n")
    run = runner(bare_db, migrations, tmp_path)
    run.migrate()
    owner.execute("DROP TABLE schema_migration_failures")  # as an older eventreg left the database
    assert [f.version for f in run.rollback()] == [NEXT]
    assert scalar(bare_db, "SELECT to_regclass('i1')") is None


def test_a_new_log_after_a_damaged_one_starts_from_what_the_database_records(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path, env="test")
    run.migrate(to="2")
    log = write(tmp_path / "migration.history.json", '[{"operation": "migrate", "vers')
    run.migrate(to="3")
    entries = log_entries(tmp_path)
    assert [(e["operation"], e.get("version")) for e in entries] == [("baseline", None), ("migrate", "0003")]
    assert sorted(entries[0]["applied"]) == ["0001", "0002"] and entries[0]["env"] == "test"
    # so the doctor's comparison of the log with the table holds, instead of failing for good
    with connect(empty_db, autocommit=True) as conn:
        recorded = {r["version"]: r["checksum"] for r in conn.execute("SELECT * FROM schema_migrations").fetchall()}
    assert replay(read_log(log), database_label(empty_db)) == recorded


def test_a_no_transaction_file_still_at_work_shows_running_not_interrupted(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="1")
    write(migrations / "up" / f"{NEXT}_two.sql", "-- eventreg:no-transaction\nSELECT 1;\nSELECT 2;\n")
    with connect(empty_db, autocommit=True) as conn:  # what a run killed after its first statement leaves
        conn.execute(
            "INSERT INTO schema_migration_failures (version, name, operation, checksum, started_by, statements,"
            " statements_done) VALUES (%s, %s, 'migrate', 'x', 'me', 2, 1)",
            (NEXT, f"{NEXT}_two.sql"),
        )
    with locked_session(empty_db, "migrate", 1) as busy:
        state = run.status()[-1]
        assert (state.state, state.detail) == (
            "running",
            f"{NEXT}_two.sql: migrate still running on the server (pid {busy.info.backend_pid}, "
            "holding the migration lock; 1 of 2 statement(s) done)",
        )
    state = run.status()[-1]
    assert state.state == "failed" and "migrate was interrupted (1 of 2 statement(s) ran" in str(state.detail)
