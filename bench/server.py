"""Registrations through the real HTTP server against the service layer called directly.

    python bench/server.py [--clients 64] [--per-client 40] [--events 100] [--workers 1,2]

Issue 13's benchmark. In one run, on one database (an embedded server with its
normal, durable settings, or EVENTREG_BENCH_DATABASE_URL, an admin URL):

- **direct**: `clients` threads in this process, each with its own connection
  (eventreg.db.connection.connect), call `LocalApi.register(slug)` with a session
  token, as the server does per request (authentication included);
- **server**: the real `python -m eventreg serve --workers N` in a subprocess on a
  free 127.0.0.1 port, DATABASE_URL and JWT_SECRET in its environment, polled on
  /readyz (and its log, for every worker's start-up) until ready; `clients`
  threads, each with its own keep-alive stdlib `http.client` connection, send
  `POST /events/{slug}/registrations` with a bearer token.

Two scenarios, each with fresh events and people for each side:

- **hot**: one event, capacity = clients x per-client, so every request takes a
  seat (none is waitlisted). Every request is a distinct student (one can register
  for an event once): each client works through its own `per-client` students,
  each with its own session.
- **spread**: `events` events (capacity as above); each client is one student who
  registers for `per-client` different events, client i for events i, i+1, ...
  (mod `events`), so at any moment the clients are on different events.

Students are inserted in SQL, set-based; their sessions are minted as `auth login`
makes them (eventreg.auth.tokens.issue and a `sessions` row each). Every client
first makes one untimed authenticated request (GET /users/me, or a session check
directly), then all are released together by a barrier. The direct side runs
before and after the servers; its figure is the mean of the two.

For each phase: registrations per second (wall time from the barrier to the last
answer), p50/p99 latency of a request as its client sees it, and CPU per request
(from /proc): the server's processes (or this process for the direct side), this
process as the HTTP client, PostgreSQL's processes, and the machine's busy share.
A GET /healthz phase (no database) gives the HTTP stack's own CPU per request.
Figures are printed, never asserted. Target: server / direct >= 0.7x.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import Student, parts, percentile, server, students

from eventreg.api.local import LocalApi
from eventreg.config import Settings
from eventreg.db.connection import connect
from tests import support

TARGET = 0.7
READY_TIMEOUT_S = 60.0
TICK = os.sysconf("SC_CLK_TCK")


# -- CPU from /proc ------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on (the name may hold spaces)


def tree_cpu(root: int | None) -> float:
    """CPU seconds of a process and its descendants (live ones, plus the reaped ones counted
    in their parents' cutime/cstime)."""
    if root is None:
        return 0.0
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        cpu[int(entry)] = sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]  # idle + iowait
    return (total - idle) / TICK, total / TICK


def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine."""
    with connect(url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
    fields = _stat(int(backend))
    return int(fields[1]) if fields else None


@dataclass
class Meter:
    """CPU of the parts between two moments."""

    app_pid: int | None  # the server's main process; None: this process is the app
    pg_pid: int | None
    start: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        busy, total = machine_busy()
        return {
            "self": own_cpu(),
            "app": tree_cpu(self.app_pid) if self.app_pid else 0.0,
            "pg": tree_cpu(self.pg_pid),
            "busy": busy,
            "total": total,
        }

    def begin(self) -> None:
        self.start = self.read()

    def end(self) -> dict[str, float]:
        now = self.read()
        return {k: now[k] - self.start[k] for k in now}


# -- data ----------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    plan: list[list[tuple[Student, str]]]  # per client: (student, event slug) per request
    warm: list[Student]  # per client: whom the untimed first request is made as


def events(url: str, count: int, capacity: int, title: str) -> list[str]:
    with connect(url, autocommit=True) as conn:
        boss = support.staff(conn)
    return [support.published_event(url, capacity, f"{title} {i}", organiser=boss).slug for i in range(count)]


def hot(url: str, secret: str, clients: int, per_client: int) -> Workload:
    (slug,) = events(url, 1, clients * per_client, "Hot")
    people = students(url, secret, clients * per_client, "hot")
    plan = [[(s, slug) for s in people[i::clients]] for i in range(clients)]
    return Workload("hot", plan, [chunk[0][0] for chunk in plan])


def spread(url: str, secret: str, clients: int, per_client: int, count: int) -> Workload:
    slugs = events(url, count, clients * per_client, "Spread")
    people = students(url, secret, clients, "spread")
    plan = [[(people[i], slugs[(i + k) % count]) for k in range(per_client)] for i in range(clients)]
    return Workload("spread", plan, people)


# -- the two sides -------------------------------------------------------------------


@dataclass
class Phase:
    side: str
    workload: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: list[str]
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return (self.requests - len(self.errors)) / self.seconds

    def per_request_ms(self, key: str) -> float:
        return self.cpu[key] * 1000 / self.requests


def drive(side: str, work: Workload, opener: Callable[[], Any], call: Callable[[Any, Student, str], None],
          warm: Callable[[Any, Student], None], meter: Meter) -> Phase:  # fmt: skip
    """Run the plan: a thread per client with its own connection (from `opener`), one untimed
    `warm` call each, then all released together; the meter reads CPU between the barriers."""
    clients = len(work.plan)
    start, finish = threading.Barrier(clients + 1), threading.Barrier(clients + 1)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        mine: list[float] = []
        failed: list[str] = []
        try:
            with contextlib.closing(opener()) as conn:
                warm(conn, work.warm[index])
                start.wait()
                for student, slug in work.plan[index]:
                    began = time.perf_counter()
                    try:
                        call(conn, student, slug)
                    except Exception as exc:  # counted and shown below
                        failed.append(f"{type(exc).__name__}: {exc}"[:200])
                    mine.append((time.perf_counter() - began) * 1000)
                finish.wait()
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:
            failed.append(f"client {index}: {type(exc).__name__}: {exc}"[:200])
            start.abort()
            finish.abort()
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    meter.begin()
    began = time.perf_counter()
    finish.wait()
    seconds = time.perf_counter() - began
    cpu = meter.end()
    for t in threads:
        t.join()
    requests = sum(len(p) for p in work.plan)
    return Phase(side, work.name, requests, seconds, latencies, errors, cpu)


def direct(url: str, settings: Settings, work: Workload, meter: Meter) -> Phase:
    def call(conn: Any, student: Student, slug: str) -> None:
        api = LocalApi(settings, lambda: contextlib.nullcontext(conn), lambda: student.token)
        api.register(slug)

    def warm(conn: Any, student: Student) -> None:
        LocalApi(settings, lambda: contextlib.nullcontext(conn), lambda: student.token).session()

    return drive("direct", work, lambda: connect(url), call, warm, meter)


def over_http(side: str, port: int, work: Workload, meter: Meter) -> Phase:
    def opener() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(conn: http.client.HTTPConnection, method: str, path: str, token: str | None, want: int) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != want:
            raise RuntimeError(f"{method} {path}: {response.status} {body[:160]!r}")

    def call(conn: Any, student: Student, slug: str) -> None:
        if slug == "/healthz":
            send(conn, "GET", "/healthz", None, 200)
        else:
            send(conn, "POST", f"/events/{slug}/registrations", student.token, 201)

    def warm(conn: Any, student: Student) -> None:
        send(conn, "GET", "/users/me", student.token, 200)

    return drive(side, work, opener, call, warm, meter)


# -- the server process --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(url: str, secret: str, workers: int, work_dir: Path) -> Iterator[tuple[int, int]]:
    """`python -m eventreg serve --workers N` on a free port; yields (port, pid) once /readyz
    answers 200 and every worker has logged its start-up."""
    port = free_port()
    home = work_dir / f"home-{workers}"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL", "JWT_", "PG"))}
    env.update(DATABASE_URL=url, JWT_SECRET=secret, EVENTREG_HOME=str(home), EVENTREG_ENV="dev")
    log_path = work_dir / f"serve-{workers}.log"
    command = [sys.executable, "-m", "eventreg", "serve", "--port", str(port), "--workers", str(workers)]
    with open(log_path, "wb") as log:
        # cwd: a folder with no .env; the repository's package is found through PYTHONPATH
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
        proc = subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"eventreg serve exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"eventreg serve was not ready in {READY_TIMEOUT_S:.0f} s")
            started = log_path.read_text(errors="replace").count("Application startup complete")
            if started >= workers and _ready(port):
                break
            time.sleep(0.05)  # polling the server's state, not waiting a fixed time
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# -- report --------------------------------------------------------------------------


def show(phase: Phase, against: float | None = None) -> None:
    cpu = phase.cpu
    machine = cpu["busy"] / cpu["total"] * 100 if cpu["total"] else 0.0
    app = phase.per_request_ms("self" if phase.side.startswith("direct") else "app")
    client = "" if phase.side.startswith("direct") else f" + client {phase.per_request_ms('self'):.2f}"
    ratio = f"  {phase.rate / against:4.2f}x direct" if against else ""
    print(f"  {phase.side:<10} {phase.workload:<7} {phase.rate:7.0f}/s  p50 {percentile(phase.latencies, 0.5):6.1f} ms"
          f"  p99 {percentile(phase.latencies, 0.99):6.1f} ms  CPU ms/request: app {app:.2f}{client}"
          f" + postgres {phase.per_request_ms('pg'):.2f}; machine {machine:3.0f}% busy{ratio}")  # fmt: skip
    if phase.errors:
        print(f"    {len(phase.errors)} of {phase.requests} failed, first: {phase.errors[0]}")


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,  # noqa: S607
                             cwd=root).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "eventreg"],  # noqa: S607
                               capture_output=True, text=True, cwd=root).stdout  # fmt: skip
        return out + (" (eventreg/ has uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--per-client", type=int, default=40)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--workers", default="1,2", help="comma-separated --workers settings to run")
    args = parser.parse_args()
    if args.per_client > args.events:
        parser.error("--per-client must not exceed --events (a student registers once per event)")
    workers = [int(w) for w in args.workers.split(",")]
    clients, per = args.clients, args.per_client
    began = time.monotonic()
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {git_commit()}; load average at start"
          f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print(f"config: {clients} clients x {per} requests; hot = 1 event, capacity {clients * per} (no waitlist),"
          f" a distinct student per request; spread = {args.events} events, one student per client;"
          f" HTTP clients: stdlib http.client, one keep-alive connection per client thread;"
          f" direct: LocalApi.register, one connection per thread; server pool 4 connections per worker"
          f" (create_app's default)")  # fmt: skip
    secret = secrets.token_urlsafe(48)
    work_dir = Path(tempfile.mkdtemp(prefix="eventreg-bench-server-"))
    try:
        with server() as admin_url:
            url = support.migrated_database(admin_url, "eventreg_serverbench")
            values = {"DATABASE_URL": url, "JWT_SECRET": secret}
            settings = Settings(env="dev", home=work_dir / "home-direct", values=values)
            pg = postmaster_pid(url)
            print(f"database: {parts(admin_url).get('host')} (PostgreSQL CPU {'measured' if pg else 'not measured'})")
            phases: list[Phase] = []

            def scenarios() -> list[Workload]:
                return [hot(url, secret, clients, per), spread(url, secret, clients, per, args.events)]

            for work in scenarios():
                phases.append(direct(url, settings, work, Meter(None, pg)))
                show(phases[-1])
            for n in workers:
                with serving(url, secret, n, work_dir) as (port, pid):
                    side = f"serve -w{n}"
                    noop = [[(Student(0, ""), "/healthz")] * per for _ in range(clients)]
                    warmers = students(url, secret, clients, f"warm{n}")
                    phases.append(over_http(side, port, Workload("healthz", noop, warmers), Meter(pid, pg)))
                    show(phases[-1])
                    for work in scenarios():
                        phases.append(over_http(side, port, work, Meter(pid, pg)))
                        show(phases[-1])
            for work in scenarios():
                phases.append(direct(url, settings, work, Meter(None, pg)))
                show(phases[-1])
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    print("summary (direct = mean of its two runs; target: server >= 0.7x direct):")
    for name in ("hot", "spread"):
        base_runs = [p for p in phases if p.side == "direct" and p.workload == name]
        base = statistics.mean(p.rate for p in base_runs)
        print(f"  {name}: direct {base:.0f}/s ({' and '.join(f'{p.rate:.0f}' for p in base_runs)}),"
              f" p50 {percentile([x for p in base_runs for x in p.latencies], 0.5):.1f} ms,"
              f" p99 {percentile([x for p in base_runs for x in p.latencies], 0.99):.1f} ms")  # fmt: skip
        for p in phases:
            if p.side.startswith("serve") and p.workload == name:
                ratio = p.rate / base
                print(f"    {p.side}: {p.rate:.0f}/s, p50 {percentile(p.latencies, 0.5):.1f} ms,"
                      f" p99 {percentile(p.latencies, 0.99):.1f} ms: {ratio:.2f}x direct,"
                      f" target {'met' if ratio >= TARGET else 'not met'}")  # fmt: skip
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"run took {time.monotonic() - began:.0f} s; load average at end {load}")


if __name__ == "__main__":
    main()
