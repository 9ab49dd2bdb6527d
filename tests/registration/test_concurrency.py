"""Races with real connections: threads, each with its own connection, released together by a barrier.

What holds each rule (see registration/service.py): the event's row lock
(SELECT ... FOR UPDATE in events.repository.lock) serialises every change of one
event's seats and waitlist; CHECK (registered_count <= capacity), kept true by the
counting trigger, refuses an overbooking; the partial unique index
registrations_one_live_per_user keeps one seat or place per person.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from eventreg.db.doctor import run_checks
from eventreg.errors import DomainError
from eventreg.events import service as events
from eventreg.registration import service as registration
from tests.support import event_state, insert_users, published_event, staff, work

WORKERS = 50  # connections racing at once; below PostgreSQL's default max_connections


def race(db: str, jobs: list[Callable[[Any], Any]], workers: int = WORKERS) -> list[Any]:
    """Run the jobs on `workers` threads, all released by one barrier; each job gets its own
    unit of work (connection and transaction)."""
    chunks = [c for c in (jobs[i::workers] for i in range(workers)) if c]
    barrier = threading.Barrier(len(chunks))

    def run(chunk: list[Callable[[Any], Any]]) -> list[Any]:
        barrier.wait()
        results = []
        for job in chunk:
            try:
                with work(db) as uow:
                    results.append(job(uow))
            except Exception as exc:  # returned, and asserted on by the caller
                results.append(exc)
        return results

    with ThreadPoolExecutor(len(chunks)) as pool:
        return [r for chunk_result in pool.map(run, chunks) for r in chunk_result]


def test_200_concurrent_registrations_for_50_seats(db, conn):
    event = published_event(db, capacity=50)
    users = insert_users(conn, 200)
    results = race(db, [lambda uow, u=u: registration.register(uow, u, event.slug) for u in users])
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r.status == "registered" for r in results) == 50
    assert sorted(r.position for r in results if r.status == "waitlisted") == list(range(1, 151))
    state = event_state(conn, event.id)
    assert state["registered_count"] == 50 and len(state["registered"]) == 50
    assert len(state["waitlist"]) == 150 == state["waitlist_length"]
    assert not state["registered"] & set(state["waitlist"])  # nobody both registered and waiting
    assert all(r["ok"] for r in run_checks(conn))


def test_the_same_user_racing_themselves_gets_one_place(db, conn):
    event = published_event(db, capacity=5)
    (user,) = insert_users(conn, 1)
    results = race(db, [lambda uow: registration.register(uow, user, event.slug)] * 20, workers=20)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(
        isinstance(r, DomainError) and "already registered" in r.message for r in results if isinstance(r, Exception)
    )
    assert event_state(conn, event.id)["registered_count"] == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_registrations_cancellations_and_capacity_changes_keep_the_invariants(db, conn, seed):
    boss = staff(conn)
    event = published_event(db, capacity=20, organiser=boss)
    holders = insert_users(conn, 20, prefix="holder")
    for user in holders:
        with work(db) as uow:
            registration.register(uow, user, event.slug)
    newcomers = insert_users(conn, 60, prefix="new")
    rng = random.Random(seed)
    cancellers = rng.sample(holders, 10)
    jobs: list[Callable[[Any], Any]] = [lambda uow, u=u: registration.register(uow, u, event.slug) for u in newcomers]
    jobs += [lambda uow, u=u: registration.cancel(uow, u, event.slug) for u in cancellers]
    jobs += [lambda uow, n=n: registration.change_capacity(uow, boss, event.slug, n) for n in (23, 25)]
    rng.shuffle(jobs)
    results = race(db, jobs, workers=40)
    # The two capacity changes may come in either order; going down to 23 after 25 is
    # refused when more than 23 seats are taken by then, which is a correct refusal.
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, DomainError) and "capacity cannot go down" in e.message for e in errors), errors

    assert all(r["ok"] for r in run_checks(conn)), run_checks(conn)
    state = event_state(conn, event.id)
    assert state["registered_count"] == state["capacity"]  # 60 waiting is more than any seats freed
    joined, promoted = (
        [r["subject_user_id"] for r in conn.execute(
            "SELECT subject_user_id FROM audit_log WHERE event_id = %s AND action = %s ORDER BY id", (event.id, action)
        )]
        for action in ("waitlisted", "promoted")
    )  # fmt: skip
    # Each promotion took the head of the line: the promoted are a prefix of join order...
    assert promoted == joined[: len(promoted)]
    # ...and whoever still waits is exactly the rest, in order.
    assert state["waitlist"] == joined[len(promoted) :]
    seated_newcomers = state["registered"] & {u.id for u in newcomers}
    assert len(seated_newcomers) == state["capacity"] - (20 - 10)
    assert set(promoted) <= seated_newcomers


def test_the_database_refuses_overbooking_even_without_the_service(db, conn):
    event = published_event(db, capacity=1)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE events SET registered_count = 2 WHERE id = %s", (event.id,))
    a, b = insert_users(conn, 2)
    conn.execute(
        "INSERT INTO registrations (event_id, user_id, status, registered_at) VALUES (%s, %s, 'registered', now())",
        (event.id, a.id),
    )
    with pytest.raises(psycopg.errors.CheckViolation):  # the counting trigger runs into the CHECK
        conn.execute(
            "INSERT INTO registrations (event_id, user_id, status, registered_at) VALUES (%s, %s, 'registered', now())",
            (event.id, b.id),
        )


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_times_follow_the_order_the_lock_decided(db, conn):
    """B starts registering while A holds the event lock; A joins the waitlist and commits;
    B's join is recorded after A's, in time as in rank, because the time is read after the
    lock is granted (clock_timestamp), not at the start of B's transaction (now())."""
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    seated, a, b = insert_users(conn, 3)
    with work(db) as uow:
        registration.register(uow, seated, event.slug)
    began, go = threading.Event(), threading.Event()
    outcome: list[Any] = []

    def register_b() -> None:
        with work(db) as uow:
            uow.conn.execute("SELECT 1")  # B's transaction begins first: its now() is the earliest
            began.set()
            go.wait(10)
            outcome.append(registration.register(uow, b, event.slug))

    thread = threading.Thread(target=register_b)
    thread.start()
    began.wait(10)
    with work(db) as holder:
        locked = events.lock(holder, boss, event.slug)
        go.set()
        wait_until(lambda: conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()["n"] >= 1)  # fmt: skip
        assert locked.event.registered == 1
        # A joins inside the transaction that holds the lock (the same statement a
        # registration runs), and commits at the end of this block.
        holder.conn.execute("SELECT * FROM eventreg_take_place(%s, %s, false)", (event.slug, a.id))
    thread.join(10)
    assert outcome[0].position == 2
    rows = conn.execute(
        "SELECT user_id, created_at FROM registrations WHERE event_id = %s AND status = 'waitlisted'"
        " ORDER BY waitlist_rank, id",
        (event.id,),
    ).fetchall()
    assert [r["user_id"] for r in rows] == [a.id, b.id]
    assert rows[0]["created_at"] < rows[1]["created_at"]
    audit = conn.execute(
        "SELECT subject_user_id, at FROM audit_log WHERE event_id = %s AND action = 'waitlisted' ORDER BY id",
        (event.id,),
    ).fetchall()
    assert [r["subject_user_id"] for r in audit] == [a.id, b.id] and audit[0]["at"] < audit[1]["at"]
