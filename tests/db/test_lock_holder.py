"""The tooling lock's holder is named by what it runs: migrate, rollback, repair, seed or seed undo."""

from __future__ import annotations

import psycopg
import pytest

from eventreg.db.connection import connect
from eventreg.db.lock import LOCK_CLASS, LOCK_OBJECT, holder, locked_session
from eventreg.db.migrations import MigrationRunner
from eventreg.errors import DomainError
from tests.db.fixtures import NEXT, write


@pytest.mark.parametrize("operation", ["migrate", "rollback", "repair", "seed", "seed undo"])
def test_the_holder_says_which_operation_holds_the_lock(empty_db, operation):
    with locked_session(empty_db, operation, 1) as busy, connect(empty_db, autocommit=True) as conn:
        found = holder(conn)
        assert found is not None
        assert (found["pid"], found["operation"]) == (busy.info.backend_pid, operation)


def test_a_session_that_is_not_an_eventreg_run_has_no_operation(empty_db):
    with psycopg.connect(empty_db, autocommit=True, application_name="psql") as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_OBJECT))
        with connect(empty_db, autocommit=True) as conn:
            found = holder(conn)
    assert found is not None and found["operation"] is None and found["application_name"] == "psql"


def test_a_migrate_waiting_on_a_seed_names_the_seed(empty_db, migrations, tmp_path):
    with locked_session(empty_db, "seed", 1):
        with pytest.raises(DomainError, match=r"holds the migration lock \(pid \d+, eventreg seed since ") as refused:
            MigrationRunner(empty_db, migrations, tmp_path / "log.json", lock_timeout=0.2).migrate()
    assert "migrate" not in str(refused.value).split("gave up")[0]


def test_status_does_not_call_an_interrupted_migration_running_while_a_seed_holds_the_lock(
    empty_db, migrations, tmp_path
):
    run = MigrationRunner(empty_db, migrations, tmp_path / "log.json")
    run.migrate(to="1")
    write(migrations / "up" / f"{NEXT}_two.sql", "-- eventreg:no-transaction\nSELECT 1;\nSELECT 2;\n")
    with connect(empty_db, autocommit=True) as conn:  # what a migrate killed after its first statement leaves
        conn.execute(
            "INSERT INTO schema_migration_failures (version, name, operation, checksum, started_by, statements,"
            " statements_done) VALUES (%s, %s, 'migrate', 'x', 'me', 2, 1)",
            (NEXT, f"{NEXT}_two.sql"),
        )
    with locked_session(empty_db, "seed", 1):
        state = run.status()[-1]
    assert state.state == "failed" and "still running" not in str(state.detail)
    assert "migrate was interrupted (1 of 2 statement(s) ran" in str(state.detail)
