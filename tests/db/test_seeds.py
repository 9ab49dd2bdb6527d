"""The seed runner: batches that record what they insert, and undo that removes exactly it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventreg.db.doctor import run_checks
from eventreg.db.migrations import MigrationRunner
from eventreg.db.seeds import SeedFailed, SeedRunner, UndoPlan
from eventreg.errors import DomainError
from tests import support
from tests.db.fixtures import scalar, write

TABLES = ("users", "security_questions", "events", "event_organisers", "registrations")
SEEDED = {"users": 5, "security_questions": 6, "events": 3, "event_organisers": 3, "registrations": 7}


def counts(conn: Any) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in TABLES}  # noqa: S608


def states(runner: SeedRunner) -> dict[str, str]:
    return {row["table"]: row["state"] for row in runner.status()}


def doctor_clean(conn: Any) -> bool:
    return all(r["ok"] for r in run_checks(conn))


def hand_made(conn: Any, email: str = "dave@uni.edu") -> int:
    return conn.execute("INSERT INTO users (email, name) VALUES (%s, 'Dave') RETURNING id", (email,)).fetchone()["id"]


def join(conn: Any, user_id: int, slug: str, status: str) -> None:
    conn.execute(
        "INSERT INTO registrations (event_id, user_id, status, registered_at, waitlist_rank)"
        " SELECT id, %s, %s, CASE WHEN %s = 'registered' THEN now() END,"
        " CASE WHEN %s = 'waitlisted' THEN nextval('waitlist_rank_seq') END FROM events WHERE slug = %s",
        (user_id, status, status, status, slug),
    )


def test_seed_then_undo_leaves_the_tables_as_before(bare_db, owner):
    hand_made(owner)
    before = counts(owner)
    messages: list[tuple[str, dict[str, Any]]] = []
    run = SeedRunner(bare_db, support.SEEDERS, report=lambda kind, f, info: messages.append((kind, info)))
    run.run()
    added = {t: n - before[t] for t, n in counts(owner).items()}
    assert added == SEEDED
    assert {info["table"]: info["rows"] for kind, info in messages if kind == "seeded"} == {
        t: n for t, n in SEEDED.items() if t != "event_organisers"
    }
    assert doctor_clean(owner)
    assert run.run() == []
    plan = run.undo()
    assert plan is not None and plan.deleted == SEEDED
    assert counts(owner) == before
    assert scalar(bare_db, "SELECT email FROM users") == "dave@uni.edu"
    assert run.undo() is None


def test_seeded_data_keeps_the_invariants_with_one_full_event(bare_db, owner):
    SeedRunner(bare_db, support.SEEDERS).run()
    rows = owner.execute("SELECT slug, waitlist_length FROM events WHERE registered_count = capacity").fetchall()
    assert [(r["slug"], r["waitlist_length"]) for r in rows] == [("python-workshop", 1)]
    assert doctor_clean(owner)


def test_only_refuses_a_seed_whose_tables_need_unseeded_ones_and_names_them(bare_db, owner):
    run = SeedRunner(bare_db, support.SEEDERS)
    with pytest.raises(DomainError, match=r"0004_registrations.sql needs .*0001_users.sql \(users\), 0003_events"):
        run.run(only="registrations")
    assert counts(owner)["registrations"] == 0
    assert set(states(run).values()) == {"pending"}
    run.run(only="users")
    run.run(only="events")
    assert [f.name for f, _ in run.run(only="registrations")] == ["0004_registrations.sql"]
    assert states(run)["security_questions"] == "pending"


def test_a_seed_that_adds_no_rows_fails_the_batch(bare_db, owner, seeders):
    write(
        seeders / "sql" / "0005_nobody.sql",
        "-- table: users\nINSERT INTO users (email, name) SELECT 'x@y.z', 'X' WHERE false;\n",
    )
    with pytest.raises(SeedFailed, match=r"0005_nobody.sql added no rows to users .*; nothing was seeded"):
        SeedRunner(bare_db, seeders).run()
    assert counts(owner)["users"] == 0


def test_a_failing_seed_leaves_nothing_behind(bare_db, owner, seeders):
    write(seeders / "sql" / "0005_broken.sql", "-- table: events\nINSERT INTO events (slug) VALUES ('x');\n")
    with pytest.raises(SeedFailed, match="0005_broken.sql failed, nothing was seeded"):
        SeedRunner(bare_db, seeders).run()
    assert counts(owner) == {t: 0 for t in TABLES}
    assert set(states(SeedRunner(bare_db, seeders)).values()) == {"pending"}


def test_undo_refuses_while_a_hand_made_place_depends_on_seed_data_and_names_it(bare_db, owner):
    run = SeedRunner(bare_db, support.SEEDERS)
    run.run()
    join(owner, hand_made(owner), "python-workshop", "waitlisted")
    before = counts(owner)
    plans: list[UndoPlan] = []
    refusing = SeedRunner(bare_db, support.SEEDERS, report=lambda kind, f, info: plans.append(info["plan"]))
    with pytest.raises(DomainError, match="1 row.* made outside the seeds depend.*--with-dependents"):
        refusing.undo()
    assert counts(owner) == before
    with pytest.raises(DomainError, match="^the undo would be refused: 1 row"):  # a dry run says what a run would do
        refusing.undo(dry_run=True)
    assert [(d.table, d.row) for d in plans[0].dependents.samples] == [
        ("registrations", f"id {before['registrations']} (dave@uni.edu waitlisted on python-workshop)")
    ]
    plan = run.undo(with_dependents=True)
    assert plan is not None and plan.deleted["events"] == 3
    assert counts(owner) == {
        "users": 1,
        "security_questions": 0,
        "events": 0,
        "event_organisers": 0,
        "registrations": 0,
    }
    assert doctor_clean(owner)


def test_undo_that_would_free_a_seat_while_someone_waits_is_refused_even_when_forced(bare_db, owner):
    SeedRunner(bare_db, support.SEEDERS).run()
    owner.execute(
        "INSERT INTO events (slug, title, capacity, starts_at, ends_at, status) VALUES"
        " ('my-talk', 'Mine', 1, now() + interval '1 day', now() + interval '2 days', 'published')"
    )
    alice = scalar(bare_db, "SELECT id FROM users WHERE email = 'alice@example.edu'")
    join(owner, alice, "my-talk", "registered")
    join(owner, hand_made(owner), "my-talk", "waitlisted")
    before = counts(owner)
    with pytest.raises(DomainError, match="failing `eventreg db doctor`: no_free_seat_while_waiting: my-talk"):
        SeedRunner(bare_db, support.SEEDERS).undo(with_dependents=True)
    assert counts(owner) == before
    assert doctor_clean(owner)


def test_undo_only_one_table_and_refuse_one_other_seeds_depend_on(bare_db, owner):
    run = SeedRunner(bare_db, support.SEEDERS)
    run.run()
    with pytest.raises(DomainError, match="other seeds depend on 0001_users.sql: 0002_security_questions.sql"):
        run.undo(only="users")
    plan = run.undo(only="registrations")
    assert plan is not None and plan.deleted == {"registrations": 7}
    assert states(run) == {
        t: "pending" if t == "registrations" else "applied" for t in SEEDED if t != "event_organisers"
    }
    assert counts(owner) == {**SEEDED, "registrations": 0}
    assert doctor_clean(owner)
    run.run(only="registrations")
    assert counts(owner) == SEEDED


def test_a_dry_run_of_undo_says_what_goes_and_changes_nothing(bare_db, owner):
    run = SeedRunner(bare_db, support.SEEDERS)
    run.run()
    plan = run.undo(dry_run=True)
    assert plan is not None and plan.deleted == SEEDED
    assert plan.people == [
        "admin@example.edu",
        "alice@example.edu",
        "bob@example.edu",
        "carol@example.edu",
        "staff@example.edu",
    ]
    assert plan.events == ["python-workshop", "spring-hackathon", "welcome-social"]
    assert counts(owner) == SEEDED
    with pytest.raises(DomainError, match="nothing was undone"):
        run.undo(confirm=lambda plan: False)
    assert counts(owner) == SEEDED


def test_a_changed_seed_file_is_reported(bare_db, seeders):
    run = SeedRunner(bare_db, seeders)
    run.run(only="users")
    path = seeders / "sql" / "0001_users.sql"
    path.write_text(path.read_text() + "\n-- edited\n")
    assert states(run)["users"] == "modified"
    said: list[str] = []
    SeedRunner(bare_db, seeders, report=lambda kind, f, info: said.append(f"{kind} {f and f.name}")).run(only="events")
    assert "seed-modified 0001_users.sql" in said


def test_a_seed_whose_table_a_rollback_dropped_counts_as_pending_again(bare_db, owner, tmp_path: Path):
    seeds = SeedRunner(bare_db, support.SEEDERS)
    seeds.run()
    migrations = MigrationRunner(bare_db, support.MIGRATIONS, tmp_path / "log.json")
    migrations.rollback(to="4")  # drops registrations and what came after
    assert states(seeds) == {
        "users": "applied",
        "security_questions": "applied",
        "events": "applied",
        "registrations": "pending",
    }
    migrations.migrate()
    assert [f.name for f, _ in seeds.run()] == ["0004_registrations.sql"]
    assert counts(owner)["registrations"] == 7


def test_a_batch_seeded_without_recorded_rows_is_not_undone_by_guessing(bare_db, owner):
    run = SeedRunner(bare_db, support.SEEDERS)
    run.run()
    owner.execute("DROP TABLE seed_rows")  # as an older eventreg left it
    owner.execute("ALTER TABLE seed_history DROP COLUMN rows_recorded")
    with pytest.raises(DomainError, match="0001_users.sql, .*0004_registrations.sql was seeded by an older eventreg"):
        run.undo()
    assert counts(owner) == SEEDED
