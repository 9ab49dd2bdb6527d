"""Registrations on one hot event, through the service layer, against the floor pgbench sets.

    python bench/register.py [--clients 8] [--per-client 500]

The floor (what the issue defines): pgbench running the minimal registration
transaction on the same server, with prepared statements (-M prepared; psycopg
prepares a statement after its fifth use, so both sides run prepared):

    BEGIN;
    UPDATE events SET registered_count = registered_count + 1 WHERE id = :eid AND registered_count < capacity;
    INSERT INTO registrations (event_id, user_id, status, registered_at) VALUES (...);
    END;

It runs in its own copy of the schema with the counting trigger dropped (the UPDATE
above does its work), so nothing is counted twice. The service layer does more, in
one statement that is its own transaction (eventreg_take_place, migration 0011):
it locks the event row (SELECT ... FOR UPDATE), checks the status, the start and
the registration window and whether the person already holds a place, inserts the
registration (the trigger moves the counter, the CHECK guards the capacity) and
writes the audit row: one round trip, where the floor's script takes four.
Each client keeps its connection, as pgbench's do. Then: cancellation with
promotion from waitlists of 1,000 and 100,000. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import threading
import time

from common import held_unit, parts, percentile, pgbench_tps, server

from eventreg.db.connection import connect
from eventreg.db.doctor import run_checks
from eventreg.registration import service as registration
from tests import support

FLOOR = """\
BEGIN;
UPDATE events SET registered_count = registered_count + 1 WHERE id = :eid AND registered_count < capacity;
INSERT INTO registrations (event_id, user_id, status, registered_at)
    VALUES (:eid, nextval('bench_user_seq'), 'registered', now());
END;
"""


def service_rate(url: str, clients: int, per_client: int) -> tuple[float, list[float]]:
    event = support.published_event(url, capacity=clients * per_client, title="Hot Event")
    with connect(url, autocommit=True) as conn:
        people = support.insert_users(conn, clients * per_client, prefix="svc")
    barrier = threading.Barrier(clients + 1)
    latencies: list[float] = []
    errors: list[Exception] = []

    def client(chunk: list) -> None:
        with connect(url) as conn:
            barrier.wait()
            for actor in chunk:
                started = time.perf_counter()
                try:
                    with held_unit(conn) as uow:
                        registration.register(uow, actor, event.slug)
                except Exception as exc:  # reported below
                    errors.append(exc)
                latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client, args=(people[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"  {len(errors)} registrations failed, first: {errors[0]}")
    return (len(people) - len(errors)) / elapsed, latencies


def floor_rate(admin_url: str, clients: int, per_client: int) -> float:
    url = support.migrated_database(admin_url, "eventreg_floor")
    event = support.published_event(url, capacity=clients * per_client, title="Hot Event")
    with connect(url, autocommit=True) as conn:
        for trigger in ("inserted", "deleted", "updated"):
            conn.execute(f"DROP TRIGGER registrations_count_{trigger} ON registrations")  # noqa: S608
        first = support.insert_users(conn, clients * per_client, prefix="pgb")[0].id
        conn.execute(f"CREATE SEQUENCE bench_user_seq START {int(first)}")  # noqa: S608 - an int we made
    return pgbench_tps(url, FLOOR, clients, per_client, eid=event.id)


def promotion_times(url: str, waiting: int, rounds: int = 50) -> list[float]:
    """Cancel the seat holder with `waiting` people queued; time each cancel + promote."""
    event = support.published_event(url, capacity=1, title=f"Queue {waiting}")
    with connect(url, autocommit=True) as conn:
        holder = support.insert_users(conn, 1, prefix="holder")[0]
        queue = support.insert_users(conn, waiting, prefix=f"q{waiting}")
        with held_unit(conn) as uow:
            registration.register(uow, holder, event.slug)
        conn.execute(
            "INSERT INTO registrations (event_id, user_id, status, waitlist_rank)"
            " SELECT %s, id, 'waitlisted', nextval('waitlist_rank_seq') FROM unnest(%s::bigint[]) AS id",
            (event.id, [p.id for p in queue]),
        )
        conn.execute("ANALYZE registrations")
    by_id = {p.id: p for p in queue}
    samples, current = [], holder
    with connect(url) as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            with held_unit(conn) as uow:
                registration.cancel(uow, current, event.slug)
            samples.append((time.perf_counter() - started) * 1000)
            seated = conn.execute(  # who got the seat (the one who gave it up is not told)
                "SELECT user_id FROM registrations WHERE event_id = %s AND status = 'registered'", (event.id,)
            ).fetchone()
            conn.commit()
            current = by_id[seated["user_id"]]
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=500)
    args = parser.parse_args()
    with server() as admin_url:
        url = support.migrated_database(admin_url, "eventreg_bench")
        print(f"server: {parts(admin_url).get('host')}; one hot event; pgbench -M prepared")
        for clients in sorted({1, args.clients}):
            per = args.per_client if clients > 1 else args.per_client * 2
            ours, latencies = service_rate(url, clients, per)
            floor = floor_rate(admin_url, clients, per)
            print(f"  {clients} client(s): service layer {ours:7.0f}/s, floor {floor:7.0f}/s, ratio {ours / floor:4.2f}"
                  f" (p50 {percentile(latencies, 0.5):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms)")  # fmt: skip
        for waiting in (1_000, 100_000):
            times = promotion_times(url, waiting)
            print(f"  cancel + promote with {waiting:>7,} waiting: median {percentile(times, 0.5):.2f} ms,"
                  f" p99 {percentile(times, 0.99):.2f} ms")  # fmt: skip
        with connect(url, autocommit=True) as conn:
            bad = [r["check"] for r in run_checks(conn) if not r["ok"]]
        print(f"  db doctor: {'all invariants hold' if not bad else bad}")


if __name__ == "__main__":
    main()
