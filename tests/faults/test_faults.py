"""Faults caused for real: dropped connections, long lock waits, a server out of connection slots."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventreg.db import connection
from eventreg.db.connection import connect
from eventreg.db.doctor import run_checks
from eventreg.registration import service as registration
from tests.conftest import TEST_SECRET
from tests.support import event_state, insert_users, published_event, work


def cli_env(db: str, home: Path, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL"))}
    env.update(DATABASE_URL_TEST=db, EVENTREG_ENV="test", EVENTREG_HOME=str(home), JWT_SECRET=TEST_SECRET,
               EVENTREG_BCRYPT_ROUNDS="4", PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", **extra)  # fmt: skip
    if token:
        env["EVENTREG_TOKEN"] = token
    return env


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "eventreg", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def hold_event_lock(db: str, event_id: int) -> psycopg.Connection:
    holder = connect(db)
    holder.execute("SELECT 1 FROM events WHERE id = %s FOR UPDATE", (event_id,))
    return holder


def lock_waiter(conn, timeout: float = 30) -> int:
    """The pid of the backend waiting on a lock, once there is one (polled, never slept on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        if row:
            return int(row["pid"])
        time.sleep(0.02)
    raise AssertionError("nothing ever waited on the event lock")


def test_connection_dropped_mid_registration_exits_5_and_a_retry_works(db, conn, template, tmp_path):
    event = published_event(db, capacity=5)
    holder = hold_event_lock(db, event.id)
    proc = start_cli(["register", event.slug], cli_env(db, tmp_path, template.tokens["student"]))
    conn.execute("SELECT pg_terminate_backend(%s)", (lock_waiter(conn),))
    _, err = proc.communicate(timeout=30)
    holder.rollback()
    holder.close()
    assert proc.returncode == 5
    assert "lost the database connection, nothing was changed" in err and "Traceback" not in err
    assert event_state(conn, event.id)["registered_count"] == 0
    assert all(r["ok"] for r in run_checks(conn))
    retry = subprocess.run([sys.executable, "-m", "eventreg", "register", event.slug],
                           env=cli_env(db, tmp_path, template.tokens["student"]), capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert retry.returncode == 0 and "Registered for" in retry.stderr
    assert event_state(conn, event.id)["registered_count"] == 1


def test_connection_dropped_mid_cancellation_changes_nothing(db, conn, template, tmp_path):
    student = template.people["student"]
    event = published_event(db, capacity=1)
    (second,) = insert_users(conn, 1)
    for person in (student, second):
        with work(db) as uow:
            registration.register(uow, person, event.slug)
    holder = hold_event_lock(db, event.id)
    proc = start_cli(["register", "cancel", event.slug], cli_env(db, tmp_path, template.tokens["student"]))
    conn.execute("SELECT pg_terminate_backend(%s)", (lock_waiter(conn),))
    proc.communicate(timeout=30)
    holder.rollback()
    holder.close()
    assert proc.returncode == 5
    state = event_state(conn, event.id)
    assert state["registered"] == {student.id} and state["waitlist"] == [second.id]
    assert all(r["ok"] for r in run_checks(conn))


def test_a_lock_wait_past_the_statement_timeout_is_a_clear_error(db, conn, template, tmp_path):
    event = published_event(db, capacity=5)
    holder = hold_event_lock(db, event.id)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "eventreg", "register", event.slug],
            env=cli_env(db, tmp_path, template.tokens["student"], EVENTREG_STATEMENT_TIMEOUT_MS="300"),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1
    assert "took too long" in result.stderr and "Traceback" not in result.stderr
    assert event_state(conn, event.id)["registered_count"] == 0


def test_every_connection_cut_between_commands_is_survived(admin_url, db, template, tmp_path):
    """As a server restart would: the next command simply connects again."""
    event = published_event(db, capacity=5)
    with connect(admin_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (conninfo_to_dict(db)["dbname"],),
        )
    result = subprocess.run([sys.executable, "-m", "eventreg", "register", event.slug],
                            env=cli_env(db, tmp_path, template.tokens["student"]), capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_command_refused_a_connection_slot_waits_for_one(db, conn, monkeypatch):
    """A role allowed one connection, that connection taken: connect() retries with backoff
    (the server's own refusal, SQLSTATE 53300) and gets in once the slot is free."""
    role = f"busy_{uuid.uuid4().hex[:6]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 1").format(sql.Identifier(role)))
    url = make_conninfo(db, user=role)
    taken = psycopg.connect(url)
    attempts: list[str] = []
    real = psycopg.connect

    def counted(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        except psycopg.OperationalError as exc:
            attempts.append(str(exc))
            raise

    monkeypatch.setattr(psycopg, "connect", counted)
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(connection.connect(url, wait_s=20)))
    waiter.start()
    deadline = time.monotonic() + 20
    while not attempts and time.monotonic() < deadline:  # poll until the server has refused once
        time.sleep(0.01)
    assert attempts and "too many connections" in attempts[0]
    taken.close()
    waiter.join(30)
    assert got and not got[0].closed  # type: ignore[attr-defined]
    got[0].close()  # type: ignore[attr-defined]


def test_no_slot_within_the_wait_is_a_clear_error(db, conn):
    role = f"busy_{uuid.uuid4().hex[:6]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 0").format(sql.Identifier(role)))
    from eventreg.errors import Unavailable

    started = time.monotonic()
    try:
        connection.connect(make_conninfo(db, user=role), wait_s=0.5)
    except Unavailable as exc:
        assert "too many connections" in exc.message
    else:
        raise AssertionError("a connection with no free slot was not refused")
    assert time.monotonic() - started < 10
