import json
import shutil
import threading
import time
from pathlib import Path

import psycopg
import pytest

from eventreg.db.migrations import MigrationFailed, MigrationRunner
from eventreg.errors import DomainError
from tests.conftest import MIGRATIONS

SHIPPED = sorted(path.name[:4] for path in (MIGRATIONS / "up").glob("*.sql"))
NEXT = f"{int(SHIPPED[-1]) + 1:04d}"


def catalog(url: str) -> dict:
    """Everything that defines the schema, for comparing before and after."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name <> 'schema_migrations' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migrations' ORDER BY 1"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall()
        sequences = conn.execute("SELECT sequence_name FROM information_schema.sequences ORDER BY 1").fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints, "sequences": sequences}


def applied_versions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        if not exists:
            return []
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A private copy of the shipped migrations that a test may change."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target


def runner(url: str, directory: Path, tmp_path: Path, **kwargs) -> MigrationRunner:
    return MigrationRunner(url, directory, tmp_path / "migration.history.json", **kwargs)


def test_migrate_applies_every_file_and_status_shows_them_applied(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    assert {s.state for s in run.status()} == {"pending"}
    done = run.migrate()
    assert [f.version for f in done] == SHIPPED
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


def test_rollback_reverts_newest_first_and_migrate_to_stops_at_target(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="0003")
    assert applied_versions(empty_db) == ["0001", "0002", "0003"]
    reverted = run.rollback(steps=2)
    assert [f.version for f in reverted] == ["0003", "0002"]
    assert applied_versions(empty_db) == ["0001"]


def test_failing_migration_rolls_back_and_history_stays_true(empty_db, migrations, tmp_path):
    (migrations / "up" / f"{NEXT}_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n"
    )
    run = runner(empty_db, migrations, tmp_path)
    with pytest.raises(MigrationFailed, match=f"{NEXT}_broken.sql.*no_such_table"):
        run.migrate()
    assert applied_versions(empty_db) == SHIPPED
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
    log = json.loads((tmp_path / "migration.history.json").read_text())
    assert [e["version"] for e in log] == SHIPPED
    assert all(e["operation"] == "migrate" and len(e["checksum"]) == 64 for e in log)


def test_modified_applied_file_is_refused_unless_allowed(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="0002")
    path = migrations / "up" / "0001_create_users_table.sql"
    path.write_text(path.read_text() + "\n-- an edit\n")
    assert run.status()[0].state == "modified"
    with pytest.raises(DomainError, match="0001_create_users_table.sql"):
        run.migrate()
    assert applied_versions(empty_db) == ["0001", "0002"]
    run.migrate(allow_modified=True)
    assert applied_versions(empty_db) == SHIPPED


def test_line_endings_and_bom_do_not_change_the_checksum(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(to="0001")
    path = migrations / "up" / "0001_create_users_table.sql"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert run.status()[0].state == "applied"


def test_pending_file_older_than_newest_applied_is_refused(empty_db, migrations, tmp_path):
    late = migrations / "up" / "0003_create_sessions_table.sql"
    kept = late.read_text()
    late.unlink()
    run = runner(empty_db, migrations, tmp_path)
    run.migrate(allow_out_of_order=False)
    late.write_text(kept)
    with pytest.raises(DomainError, match="older than the newest applied"):
        run.migrate()
    run.migrate(allow_out_of_order=True)
    assert "0003" in applied_versions(empty_db)


def test_missing_file_is_reported_as_missing(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate()
    (migrations / "up" / "0006_create_audit_log_table.sql").unlink()
    assert {s.version: s.state for s in run.status()}["0006"] == "missing"


def test_missing_down_file_fails_before_anything_runs(empty_db, migrations, tmp_path):
    run = runner(empty_db, migrations, tmp_path)
    run.migrate()
    (migrations / "down" / "0005_create_registrations_table.sql").unlink()
    with pytest.raises(DomainError, match="no down file for 0005"):
        run.rollback(steps=len(SHIPPED) - 3)
    assert applied_versions(empty_db) == SHIPPED


def test_dry_run_changes_nothing(empty_db, migrations, tmp_path):
    seen = []
    run = runner(empty_db, migrations, tmp_path, report=lambda kind, f, info: seen.append((kind, f.name)))
    planned = run.migrate(dry_run=True)
    assert len(planned) == len(SHIPPED)
    assert {kind for kind, _ in seen} == {"would-run"}
    assert applied_versions(empty_db) == []
    assert not (tmp_path / "migration.history.json").exists()


def test_no_transaction_file_runs_outside_a_transaction(empty_db, migrations, tmp_path):
    (migrations / "up" / f"{NEXT}_index_concurrently.sql").write_text(
        "-- eventreg:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_idx ON users (name);\n"
    )
    runner(empty_db, migrations, tmp_path).migrate()
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('users_name_idx')").fetchone()[0] is not None
    assert applied_versions(empty_db)[-1] == NEXT


def test_concurrent_migrate_runs_apply_each_file_once(empty_db, migrations, tmp_path):
    # Slow the first file down so the second run must wait on the advisory lock.
    first = migrations / "up" / "0001_create_users_table.sql"
    first.write_text("SELECT pg_sleep(0.5);\n" + first.read_text())
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
    assert sorted(results) == [0, len(SHIPPED)]
    assert applied_versions(empty_db) == SHIPPED


def test_lock_timeout_names_the_holder(empty_db, migrations, tmp_path):
    from eventreg.db.lock import tooling_lock

    with tooling_lock(empty_db, "migrate", 1):
        with pytest.raises(DomainError, match=r"pid \d+.*eventreg migrate since"):
            runner(empty_db, migrations, tmp_path, lock_timeout=0.3).migrate()


def test_new_creates_the_next_numbered_pair(tmp_path, migrations):
    run = runner("postgresql://unused", migrations, tmp_path)
    up, down = run.new("Add event tags")
    assert up.name == f"{NEXT}_add_event_tags.sql"
    assert down == migrations / "down" / f"{NEXT}_add_event_tags.sql"


def test_rollback_during_a_migrate_waits_and_gives_up_naming_the_holder(empty_db, migrations, tmp_path):
    slow = migrations / "up" / "0001_create_users_table.sql"
    slow.write_text("SELECT pg_sleep(1);\n" + slow.read_text())
    migrate = threading.Thread(target=lambda: runner(empty_db, migrations, tmp_path).migrate())
    migrate.start()
    time.sleep(0.3)
    with pytest.raises(DomainError, match="eventreg migrate since"):
        runner(empty_db, migrations, tmp_path, lock_timeout=0.2).rollback()
    migrate.join()
    assert applied_versions(empty_db) == SHIPPED  # the rollback did nothing
