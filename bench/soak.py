"""Soak: many processes running the real CLI (`eventreg register` / `register cancel`)
against one small event for a while, then `db doctor`.

    python bench/soak.py [--processes 8] [--seconds 60] [--capacity 4]

Prints throughput, p50/p99 latency of whole commands (process start included) and
the doctor's verdict. Bounded in time; talks only to a local server.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, open_conn, server_url, staff_actor, summary
from eventreg.auth import service as auth
from eventreg.config import load_settings
from eventreg.db.doctor import run_checks
from eventreg.events import service as events

PASSWORD = "soak-password-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--capacity", type=int, default=4)
    args = parser.parse_args()
    with server_url() as (admin_url, _embedded):
        run(fresh_database(admin_url), args.processes, args.seconds, args.capacity)


def run(url: str, processes: int, seconds: float, capacity: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="eventreg-soak-"))
    secret = secrets.token_urlsafe(48)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL"))},
        "DATABASE_URL": url, "EVENTREG_HOME": str(home), "JWT_SECRET": secret,
        "EVENTREG_BCRYPT_ROUNDS": "4", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }  # fmt: skip
    os.environ.update({"JWT_SECRET": secret, "EVENTREG_BCRYPT_ROUNDS": "4", "DATABASE_URL": url})
    settings = load_settings()
    tokens = []
    with open_conn(url) as conn:
        event = events.create(conn, staff_actor(conn), "Soak", capacity, "2099-01-01T10:00", publish=True)
        for n in range(processes):
            email = f"soak{n}@bench.example"
            auth.sign_up(conn, settings, email, f"Soak {n}", PASSWORD, [])
            tokens.append(auth.login(conn, settings, email, PASSWORD)[0])

    latencies: list[float] = []
    outcomes: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(token: str) -> None:
        own = {**env, "EVENTREG_TOKEN": token}
        step = 0
        while time.monotonic() < deadline:
            command = ["register", event["slug"]] if step % 2 == 0 else ["register", "cancel", event["slug"]]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "eventreg", *command], env=own, capture_output=True)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                outcomes[done.returncode] = outcomes.get(done.returncode, 0) + 1
            step += 1

    threads = [threading.Thread(target=worker, args=(t,)) for t in tokens]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    with open_conn(url) as conn:
        bad = [r for r in run_checks(conn) if not r["ok"]]
        promoted = conn.execute(
            "SELECT count(*) AS n FROM audit_log WHERE event_id = %s AND action = 'promoted'", (event["id"],)
        ).fetchone()["n"]
    print(f"soak: {processes} processes, {wall:.0f} s, event capacity {capacity}")
    print(f"  commands: {len(latencies)} ({len(latencies) / wall:.1f}/s), exit codes {dict(sorted(outcomes.items()))}")
    print(f"  latency per command (process start included): {summary(latencies)}")
    print(f"  promotions from the waitlist: {promoted}")
    print(f"  db doctor: {'zero violations' if not bad else bad}")


if __name__ == "__main__":
    main()
