"""Soak: many processes running the real CLI (`eventreg register` / `register cancel`)
against one small event for a while, then `db doctor`.

    python bench/soak.py [--processes 8] [--seconds 60] [--capacity 4]

Each process is a student signed in once (a token and its session row); it registers
and cancels in turn, so seats free up and the waitlist is promoted all the time.
Prints throughput, p50/p99 latency of whole commands (process start included), the
exit codes seen and the doctor's verdict. Bounded in time; talks only to a local server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time

from common import Student, percentile, server, students

from eventreg.db.connection import connect
from eventreg.db.doctor import run_checks
from tests import support


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--capacity", type=int, default=4)
    args = parser.parse_args()
    with server() as admin_url:
        run(support.migrated_database(admin_url, "eventreg_soak"), args.processes, args.seconds, args.capacity)


def run(url: str, processes: int, seconds: float, capacity: int) -> None:
    secret = secrets.token_urlsafe(48)
    event = support.published_event(url, capacity=capacity, title="Soak")
    people = students(url, secret, processes, "soak")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL"))},
        "DATABASE_URL": url, "EVENTREG_HOME": tempfile.mkdtemp(prefix="eventreg-soak-"), "JWT_SECRET": secret,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }  # fmt: skip
    latencies: list[float] = []
    outcomes: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(student: Student) -> None:
        own = {**env, "EVENTREG_TOKEN": student.token}
        step = 0
        while time.monotonic() < deadline:
            command = ["register", event.slug] if step % 2 == 0 else ["register", "cancel", event.slug]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "eventreg", *command], env=own, capture_output=True)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                outcomes[done.returncode] = outcomes.get(done.returncode, 0) + 1
            step += 1

    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    with connect(url, autocommit=True) as conn:
        bad = [r["check"] for r in run_checks(conn) if not r["ok"]]
        promoted = conn.execute(
            "SELECT count(*) AS n FROM audit_log WHERE event_id = %s AND action = 'promoted'", (event.id,)
        ).fetchone()["n"]
    print(f"soak: {processes} processes, {wall:.0f} s, event capacity {capacity}")
    print(f"  commands: {len(latencies)} ({len(latencies) / wall:.1f}/s), exit codes {dict(sorted(outcomes.items()))}")
    print(f"  latency per command (process start included): p50 {percentile(latencies, 0.5):.0f} ms,"
          f" p99 {percentile(latencies, 0.99):.0f} ms")  # fmt: skip
    print(f"  promotions from the waitlist: {promoted}")
    print(f"  db doctor: {'all invariants hold' if not bad else bad}")


if __name__ == "__main__":
    main()
