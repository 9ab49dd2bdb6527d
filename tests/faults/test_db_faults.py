"""Killed `db migrate` and `db seed` runs, caused for real with SIGKILL on the command line.

A killed client leaves its backend running the statement it was given; the
tooling lock lives on that backend, so no second run starts until it ends. The
tests end that statement themselves (pg_terminate_backend) instead of waiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eventreg.db.connection import connect
from eventreg.db.migrations import MigrationRunner
from eventreg.db.repair import repair
from eventreg.db.seeds import SeedRunner
from eventreg.errors import DomainError
from tests.db import fixtures
from tests.db.fixtures import NEXT, SHIPPED, applied_versions, scalar, write
from tests.support import poll

SLEEP = "SELECT pg_sleep(60);"

# The database fixtures of tests/db, by name (pytest finds fixtures in the module).
bare_db = fixtures.bare_db
bare_template = fixtures.bare_template
empty_db = fixtures.empty_db
migrations = fixtures.migrations
seeders = fixtures.seeders


def cli_env(url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL"))}
    env.update(DATABASE_URL=url, EVENTREG_HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    return env


def start_cli(args: list[str], url: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventreg", *args],
        env=cli_env(url, home),
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # As from a terminal: a suite started in the background by a non-interactive shell
        # ignores SIGINT, the child would inherit that, and Ctrl-C would never reach it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )


def sleeping_backend(url: str) -> int | None:
    """The backend of another session that is running pg_sleep in this database."""
    return scalar(
        url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND state = 'active' AND wait_event = 'PgSleep'",
    )


def kill_client_and_keep_its_backend(proc: subprocess.Popen[str], url: str) -> int:
    def running() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"the command ended first: {proc.communicate()[1]}")
        return sleeping_backend(url)

    pid = poll(running, "the run's statement executing")
    proc.kill()
    proc.wait()
    assert sleeping_backend(url) == pid  # the server goes on with the statement the client gave it
    return pid


def end_backend(url: str, pid: int) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    poll(lambda: True if scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)) == 0 else None,
         "the backend gone")  # fmt: skip


def test_a_killed_migrate_keeps_the_lock_until_its_statement_ends(empty_db, migrations, tmp_path):
    slow = migrations / "up" / "0003_create_sessions_table.sql"
    original = slow.read_text()
    write(slow, f"{SLEEP}\n{original}")
    proc = start_cli(["db", "migrate", "--migrations-dir", str(migrations)], empty_db, tmp_path)
    pid = kill_client_and_keep_its_backend(proc, empty_db)
    second = MigrationRunner(empty_db, migrations, tmp_path / "log.json", lock_timeout=0.3)
    with pytest.raises(DomainError, match=rf"another run holds the migration lock \(pid {pid}, eventreg migrate"):
        second.migrate()
    end_backend(empty_db, pid)
    # What the table says is applied is exactly what exists: 0003 rolled back with its history row.
    assert applied_versions(empty_db) == ["0001", "0002"]
    assert scalar(empty_db, "SELECT to_regclass('sessions')") is None
    write(slow, original)
    second.migrate()
    assert applied_versions(empty_db) == SHIPPED


def test_a_killed_no_transaction_migration_is_recorded_as_interrupted_until_repaired(bare_db, migrations, tmp_path):
    path = write(
        migrations / "up" / f"{NEXT}_user_indexes.sql",
        "-- eventreg:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_idx ON users (name);\n"
        f"{SLEEP}\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_created_idx ON users (created_at);\n",
    )
    proc = start_cli(["db", "migrate", "--migrations-dir", str(migrations)], bare_db, tmp_path)
    pid = kill_client_and_keep_its_backend(proc, bare_db)
    run = MigrationRunner(bare_db, migrations, tmp_path / "log.json", lock_timeout=0.3)
    assert run.status()[-1].state == "running"
    end_backend(bare_db, pid)
    state = run.status()[-1]
    assert (state.version, state.state) == (NEXT, "failed")
    assert "interrupted (1 of 3 statement(s) ran" in str(state.detail)
    with pytest.raises(DomainError, match="user_indexes.sql: migrate was interrupted"):
        run.migrate()
    assert scalar(bare_db, "SELECT to_regclass('users_created_idx')") is None
    write(path, path.read_text().replace("pg_sleep(60)", "pg_sleep(0)"))
    assert [f.version for f in repair(run).failures] == [NEXT]
    run.migrate()
    assert applied_versions(bare_db)[-1] == NEXT
    assert scalar(bare_db, "SELECT to_regclass('users_created_idx')::text") == "users_created_idx"


def counts(url: str) -> dict[str, Any]:
    return {t: scalar(url, f"SELECT count(*) FROM {t}") for t in ("users", "events", "seed_history")}  # noqa: S608


def test_a_killed_seed_leaves_nothing_half_seeded(bare_db, seeders, tmp_path):
    events = seeders / "sql" / "0003_events.sql"
    original = events.read_text()
    write(events, f"{original}\n{SLEEP}\n")
    proc = start_cli(["db", "seed", "--seeders-dir", str(seeders)], bare_db, tmp_path)
    pid = kill_client_and_keep_its_backend(proc, bare_db)
    end_backend(bare_db, pid)
    assert counts(bare_db) == {"users": 0, "events": 0, "seed_history": 0}
    write(events, original)
    assert len(SeedRunner(bare_db, seeders).run()) == 4
    assert counts(bare_db) == {"users": 5, "events": 3, "seed_history": 4}


def test_ctrl_c_while_waiting_for_the_lock_exits_130_and_changes_nothing(empty_db, migrations, tmp_path):
    from eventreg.db.lock import LOCK_CLASS, LOCK_OBJECT

    with connect(empty_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_OBJECT))  # another run, as it were
        proc = start_cli(["db", "migrate", "--migrations-dir", str(migrations)], empty_db, tmp_path)

        def waiting() -> bool | None:
            if proc.poll() is not None:
                raise AssertionError(f"the command ended first: {proc.communicate()[1]}")
            found = scalar(  # connected, and asking for the lock (the holder is this test's session)
                empty_db,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'eventreg migrate%%'"
                " AND query LIKE '%%pg_try_advisory_lock%%'",
            )
            return True if found else None

        poll(waiting, "the migrate waiting for the lock")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "Error: interrupted" and "Traceback" not in err
    assert scalar(empty_db, "SELECT to_regclass('schema_migrations')") is None  # nothing was applied
