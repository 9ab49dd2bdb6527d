"""Faults caused for real: killed processes, dropped connections, long lock waits."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from eventreg.db.connection import connect
from eventreg.db.doctor import run_checks
from eventreg.db.migrations import MigrationRunner
from tests.conftest import MIGRATIONS, PASSWORD, SEEDERS, TEST_SECRET, make_user
from tests.registration.helpers import event_state, published_event


def cli_env(db: str, home: Path, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=db,
        EVENTREG_HOME=str(home),
        JWT_SECRET=TEST_SECRET,
        EVENTREG_BCRYPT_ROUNDS="4",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        **extra,
    )
    if token:
        env["EVENTREG_TOKEN"] = token
    return env


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventreg", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never saw {text!r}")


def slow_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    for path in sorted((target / "up").glob("*.sql")):
        path.write_text("SELECT pg_sleep(0.4);\n" + path.read_text())
    return target


def test_sigkill_during_migrate_leaves_a_true_history_and_the_next_run_completes(empty_db, tmp_path):
    migrations = slow_migrations(tmp_path)
    proc = start_cli(["db", "migrate", "--migrations-dir", str(migrations)], cli_env(empty_db, tmp_path))
    wait_for_line(proc, "Running migration: 0003")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    runner = MigrationRunner(empty_db, migrations, tmp_path / "migration.history.json", lock_timeout=30)
    # What the table says is applied is exactly what exists: no half-applied file.
    for state in runner.status():
        assert state.state in ("applied", "pending")
    applied = {s.version for s in runner.status() if s.state == "applied"}
    with psycopg.connect(empty_db) as conn:
        has_sessions = conn.execute("SELECT to_regclass('sessions') IS NOT NULL").fetchone()[0]
    assert has_sessions == ("0003" in applied)
    runner.migrate()  # waits for the killed run's backend to let go, then completes
    assert {s.state for s in runner.status()} == {"applied"}


def test_sigkill_during_seed_leaves_nothing_half_seeded(db, tmp_path):
    seeders = tmp_path / "seeders"
    shutil.copytree(SEEDERS, seeders)
    events_seed = seeders / "sql" / "0003_events.sql"
    events_seed.write_text(events_seed.read_text() + "\nSELECT pg_sleep(3);\n")
    proc = start_cli(["db", "seed", "--seeders-dir", str(seeders)], cli_env(db, tmp_path))
    time.sleep(1.5)  # inside the batch's transaction, sleeping in the events seed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with psycopg.connect(db) as conn:
        # The server notices the dead client after the sleep; wait for it to roll back.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND application_name = 'eventreg'"
            ).fetchone()[0]
            if not busy:
                break
            time.sleep(0.2)
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM seed_history").fetchone()[0] == 0
    done = subprocess.run(
        [sys.executable, "-m", "eventreg", "db", "seed"],
        env=cli_env(db, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Seeded users table with 5 default users" in done.stderr


def hold_event_lock(db: str, event_id: int) -> psycopg.Connection:
    holder = psycopg.connect(db)
    holder.execute("SELECT 1 FROM events WHERE id = %s FOR UPDATE", (event_id,))
    return holder


def wait_for_lock_waiter(conn, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'eventreg'"
            " AND wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
        if row:
            return int(row["pid"])
        time.sleep(0.05)
    raise AssertionError("the registration never waited on the event lock")


def test_connection_dropped_mid_registration_exits_5_and_a_retry_works(db, conn, settings, tmp_path):
    from eventreg.auth import service

    event = published_event(conn, capacity=5)
    make_user(conn, settings, "drop@example.edu")
    token, _ = service.login(conn, settings, "drop@example.edu", PASSWORD)
    holder = hold_event_lock(db, event["id"])
    proc = start_cli(["register", event["slug"]], cli_env(db, tmp_path, token))
    pid = wait_for_lock_waiter(conn)
    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    out, err = proc.communicate(timeout=30)
    holder.rollback()
    holder.close()
    assert proc.returncode == 5
    assert "lost the database connection" in err and "Traceback" not in err
    assert all(r["ok"] for r in run_checks(conn))
    assert event_state(conn, event["id"])["registered_count"] == 0
    retry = subprocess.run(
        [sys.executable, "-m", "eventreg", "register", event["slug"]],
        env=cli_env(db, tmp_path, token),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert retry.returncode == 0 and "Registered for" in retry.stderr
    assert event_state(conn, event["id"])["registered_count"] == 1


def test_connection_dropped_mid_cancellation_changes_nothing(db, conn, settings, tmp_path):
    from eventreg.auth import service
    from eventreg.registration import service as registration
    from tests.registration.helpers import actor_for

    event = published_event(conn, capacity=1)
    first = make_user(conn, settings, "first@example.edu")
    second = make_user(conn, settings, "second@example.edu")
    registration.register(conn, actor_for(first), event["slug"])
    registration.register(conn, actor_for(second), event["slug"])
    token, _ = service.login(conn, settings, "first@example.edu", PASSWORD)
    holder = hold_event_lock(db, event["id"])
    proc = start_cli(["register", "cancel", event["slug"]], cli_env(db, tmp_path, token))
    conn.execute("SELECT pg_terminate_backend(%s)", (wait_for_lock_waiter(conn),))
    proc.communicate(timeout=30)
    holder.rollback()
    holder.close()
    assert proc.returncode == 5
    state = event_state(conn, event["id"])
    assert state["registered"] == {first["id"]} and state["waitlist"] == [second["id"]]
    assert all(r["ok"] for r in run_checks(conn))


def test_a_lock_wait_past_the_statement_timeout_is_a_clear_error(db, conn, settings, tmp_path):
    from eventreg.auth import service

    event = published_event(conn, capacity=5)
    make_user(conn, settings, "wait@example.edu")
    token, _ = service.login(conn, settings, "wait@example.edu", PASSWORD)
    holder = hold_event_lock(db, event["id"])
    try:
        result = subprocess.run(
            [sys.executable, "-m", "eventreg", "register", event["slug"]],
            env=cli_env(db, tmp_path, token, EVENTREG_STATEMENT_TIMEOUT_MS="300"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1
    assert "took too long" in result.stderr and "Traceback" not in result.stderr
    assert event_state(conn, event["id"])["registered_count"] == 0


def test_database_restart_between_commands_is_survived(admin_url, db, conn, settings, tmp_path):
    """Every connection from the tool is cut (as by a restart); the next command reconnects."""
    from eventreg.auth import service

    event = published_event(conn, capacity=5)
    make_user(conn, settings, "restart@example.edu")
    token, _ = service.login(conn, settings, "restart@example.edu", PASSWORD)
    with connect(admin_url) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (conninfo_dbname(db),),
        )
    result = subprocess.run(
        [sys.executable, "-m", "eventreg", "register", event["slug"]],
        env=cli_env(db, tmp_path, token),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def conninfo_dbname(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(url)["dbname"])
