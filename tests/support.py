"""Helpers shared by the tests and the benchmarks: a server, databases, people and events.

Nothing here is a fake: every helper talks to a real PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from eventreg.db import embedded
from eventreg.db.connection import connect
from eventreg.db.files import packaged_dir
from eventreg.db.migrations import MigrationRunner
from eventreg.db.uow import UnitOfWork, unit_of_work
from eventreg.roles import Actor

MIGRATIONS = packaged_dir("migrations")
SEEDERS = packaged_dir("seeders")
# A throwaway cluster need not survive a crash: this makes tests and set-up fast.
FAST_SERVER = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@contextlib.contextmanager
def server(env_var: str, fast: bool = True) -> Iterator[str]:
    """The admin URL of a server: the one in `env_var`, or an embedded one in a temporary
    folder, stopped (and its folder removed) afterwards."""
    external = os.environ.get(env_var)
    if external:
        yield external
        return
    home = Path(tempfile.mkdtemp(prefix="eventreg-pg-"))
    info = embedded.start(home, server_settings=FAST_SERVER if fast else ())
    try:
        yield info.url("postgres")
    finally:
        embedded.stop(home)
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def database_url(admin_url: str, name: str) -> str:
    return make_conninfo(admin_url, dbname=name)


# Threads of test servers told to stop; the session joins them before the database server stops.
STOPPING: list[threading.Thread] = []

# Databases made during a test, dropped when it ends (tests/conftest.py), so the cluster stays
# small and the session ends quickly; templates made once per session pass keep=True.
THROWAWAY: list[tuple[str, str]] = []


def create_database(admin_url: str, name: str, template: str | None = None, keep: bool = False) -> str:
    if not keep:
        THROWAWAY.append((admin_url, name))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            if conn.info.server_version >= 150000:  # a file copy, without writing the copy to the WAL
                query = sql.SQL("{} STRATEGY FILE_COPY").format(query)
        conn.execute(query)
    return database_url(admin_url, name)


class Copies:
    """Copies of a template made ahead in a thread of their own, so a test that needs a fresh
    database takes one made while the tests before it ran (CREATE DATABASE costs a few tens of
    milliseconds, mostly waiting on the server, and nearly every test needs one)."""

    def __init__(self, admin_url: str, template: str, ahead: int = 2) -> None:
        self.admin_url, self.template = admin_url, template
        self.ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=ahead)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="copy-databases", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            name = f"eventreg_t_{uuid.uuid4().hex[:10]}"
            try:
                create_database(self.admin_url, name, template=self.template, keep=True)
            except BaseException as exc:  # handed to the test that asks next
                self.ready.put(exc)
                return
            self.ready.put(name)  # waits while `ahead` copies are ready

    def take(self) -> str:
        """A fresh copy's URL; it is dropped when the test that took it ends."""
        item = self.ready.get(timeout=120)
        if isinstance(item, BaseException):
            raise item
        THROWAWAY.append((self.admin_url, item))
        return database_url(self.admin_url, item)

    def finish(self, dropper: Dropper) -> None:
        """Stop making copies and drop the ones nobody took."""
        self.stopping.set()
        while self.thread.is_alive() or not self.ready.empty():
            try:
                item = self.ready.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, str):
                dropper.drop(self.admin_url, item)


class Dropper:
    """Drops databases in a thread of its own, so a test's end does not wait for its
    databases to go (DROP DATABASE waits for a checkpoint); `finish` waits for the last."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="drop-databases", daemon=True)
        self.thread.start()

    def drop(self, admin_url: str, name: str) -> None:
        self.queue.put((admin_url, name))

    def finish(self) -> None:
        for thread in STOPPING:
            thread.join(timeout=30)
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                drop_database(*item)
            except psycopg.Error as exc:  # a database left behind costs disk, not correctness
                print(f"could not drop test database {item[1]}: {exc}", file=sys.stderr)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrated_database(admin_url: str, prefix: str = "eventreg", keep: bool = False) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name, keep=keep)
    MigrationRunner(url, MIGRATIONS, Path(tempfile.mkdtemp()) / "log.json").migrate()
    return url


def source(url: str) -> Any:
    """A connection source for units of work, as the command line makes one."""
    return lambda: connect(url, statement_timeout_ms=30_000)


@contextlib.contextmanager
def work(url: str) -> Iterator[UnitOfWork]:
    """One unit of work on `url`, committed at the end: how a test calls a service."""
    with unit_of_work(source(url)) as uow:
        yield uow


def insert_users(conn: Any, count: int, role: str = "student", prefix: str = "u") -> list[Actor]:
    """Many users at once, without passwords (they never sign in): Actors for service calls."""
    tag = uuid.uuid4().hex[:6]
    rows = conn.execute(
        "INSERT INTO users (email, name, role)"
        " SELECT %s || '-' || g || '-' || %s || '@example.edu', 'User ' || g, %s"
        " FROM generate_series(1, %s) AS g ORDER BY g RETURNING id, email, name, role",
        (prefix, tag, role, count),
    ).fetchall()
    return [Actor(r["id"], r["email"], r["name"], r["role"], str(uuid.uuid4())) for r in rows]


def staff(conn: Any) -> Actor:
    return insert_users(conn, 1, "staff", "staff")[0]


def published_event(url: str, capacity: int, title: str = "Talk", organiser: Actor | None = None) -> Any:
    from eventreg.events import service as events

    with work(url) as uow:
        boss = organiser or staff(uow.conn)
        return events.create(uow, boss, title=title, capacity=capacity, starts_at="2099-01-01T10:00", publish=True)


def event_state(conn: Any, event_id: int) -> dict[str, Any]:
    """Seats, counters and the waitlist of an event, read straight from the tables."""
    row = conn.execute(
        "SELECT capacity, registered_count, waitlist_length FROM events WHERE id = %s", (event_id,)
    ).fetchone()
    rows = conn.execute(
        "SELECT user_id, status FROM registrations WHERE event_id = %s AND status <> 'cancelled'", (event_id,)
    ).fetchall()
    waiting = conn.execute(
        "SELECT user_id FROM registrations WHERE event_id = %s AND status = 'waitlisted' ORDER BY waitlist_rank, id",
        (event_id,),
    ).fetchall()
    return {
        "capacity": row["capacity"],
        "registered_count": row["registered_count"],
        "waitlist_length": row["waitlist_length"],
        "registered": {r["user_id"] for r in rows if r["status"] == "registered"},
        "waitlist": [r["user_id"] for r in waiting],
    }


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class _Stdin(io.TextIOWrapper):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_cli(args: list[str], stdin: str | bytes | None = None, tty: bool = False) -> Result:
    """Run `eventreg ARGS` in this process with its own standard streams: pipes, or with
    `tty`, an output that says it is a terminal (as a person sees it)."""
    from eventreg.cli.app import run

    data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
    fake_in = _Stdin(io.BytesIO(data), encoding="utf-8")
    out, err = (_Terminal(), _Terminal()) if tty else (io.StringIO(), io.StringIO())
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = fake_in, out, err
    try:
        code = run(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return Result(code, out.getvalue(), err.getvalue())


T = TypeVar("T")


def poll(get: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """`get()`'s first value that is not None, asked every 10 ms; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if value is not None:
            return value
        time.sleep(0.01)
    raise AssertionError(f"never saw {what}")
