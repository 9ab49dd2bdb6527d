import psycopg
import pytest

from eventreg.db.seeds import SeedFailed, SeedRunner
from tests.conftest import SEEDERS

TABLES = ("users", "security_questions", "events", "registrations")


def snapshot(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def test_seed_then_undo_leaves_tables_as_before(db):
    before = snapshot(db)
    messages = []
    run = SeedRunner(db, SEEDERS, report=lambda kind, f, info: messages.append((kind, info)))
    run.run()
    after = snapshot(db)
    assert after == {"users": 5, "security_questions": 6, "events": 3, "registrations": 7}
    seeded = {info["table"]: info["rows"] for kind, info in messages if kind == "seeded"}
    assert seeded == after
    assert run.run() == []  # nothing pending
    run.undo()
    assert snapshot(db) == before
    assert run.undo() == []


def test_seeded_data_keeps_the_invariants(db):
    SeedRunner(db, SEEDERS).run()
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT e.slug, e.registered_count, e.capacity,"
            " (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.status = 'registered'),"
            " (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.status = 'waitlisted')"
            " FROM events e ORDER BY slug"
        ).fetchall()
    assert [(slug, count) for slug, count, _, counted, _ in rows if count != counted] == []
    full = {slug: waiting for slug, count, capacity, _, waiting in rows if count == capacity}
    assert full == {"python-workshop": 1}


def test_only_seeds_one_table(db):
    SeedRunner(db, SEEDERS).run(only="users")
    assert snapshot(db)["users"] == 5
    assert snapshot(db)["events"] == 0


def test_failing_seed_leaves_nothing_behind(db, tmp_path):
    import shutil

    seeders = tmp_path / "seeders"
    shutil.copytree(SEEDERS, seeders)
    (seeders / "sql" / "0005_broken.sql").write_text("-- table: events\nINSERT INTO events (slug) VALUES ('x');\n")
    with pytest.raises(SeedFailed, match="0005_broken.sql"):
        SeedRunner(db, seeders).run()
    assert snapshot(db) == {t: 0 for t in TABLES}
    assert all(row["state"] == "pending" for row in SeedRunner(db, seeders).status())
