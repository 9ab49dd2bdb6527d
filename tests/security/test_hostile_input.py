"""Property-based tests over the CLI's inputs: every input gets a correct result or a
clear one-line error with a documented exit code, never a traceback, and an error
leaves the database as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Cli

INJECTIONS = [
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "x'); DELETE FROM events; --",
    "1; UPDATE users SET role = 'admin'",
    "$$; DROP TABLE registrations; $$",
    "%s%s%s",
    "{0}{1}",
    "\\x00",
    "Robert'); DROP TABLE students;--",
]
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(min_size=190, max_size=1200),
    st.sampled_from(INJECTIONS),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(lambda s: s + "\x00" + s),
    st.sampled_from(["", " ", "\t", "é", "😀" * 60, "\u202e", "a" * 81]),
)
capacities = st.one_of(st.integers(-10, 10), st.integers(10**6 - 2, 10**6 + 2), st.integers(2**31 - 2, 2**63))
times = st.one_of(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.one_of(st.none(), st.timezones())
    ).map(lambda d: d.isoformat()),
    nasty_text,
    st.sampled_from(["2026-13-01T10:00", "2026-02-30", "24:00", "2026-12-01T10:00+25:00", "tomorrow", "1e9"]),
)
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXIT_CODES = {0, 1, 2, 3, 4}


def counts(conn) -> dict[str, int]:
    tables = ("users", "events", "registrations", "audit_log", "security_questions", "sessions")
    return {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in tables}  # noqa: S608


def check(result, conn, before) -> None:
    assert result.exit_code in EXIT_CODES, result.output
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert counts(conn) == before


@SLOW
@given(title=nasty_text, location=nasty_text, slug=st.one_of(st.none(), nasty_text), capacity=capacities, starts=times)
def test_event_create_with_hostile_values(cli: Cli, login_as, conn, title, location, slug, capacity, starts):
    if not hasattr(test_event_create_with_hostile_values, "_staff"):
        login_as("staff", "hostile-staff@example.edu")
        test_event_create_with_hostile_values._staff = True  # type: ignore[attr-defined]
    before = counts(conn)
    args = [
        "event",
        "create",
        "--title",
        title,
        "--location",
        location,
        "--capacity",
        str(capacity),
        "--starts-at",
        starts,
        "--json",
    ]
    if slug is not None:
        args += ["--slug", slug]
    result = cli(*args)
    check(result, conn, before)
    if result.exit_code == 0:
        created = json.loads(result.stdout)
        assert created["title"] == title.strip() and created["location"] == location.strip()
        assert 1 <= created["capacity"] <= 10**6


@SLOW
@given(email=nasty_text, name=nasty_text, question=nasty_text)
def test_sign_up_with_hostile_values(cli: Cli, conn, email, name, question):
    before = counts(conn)
    result = cli(
        "auth",
        "register",
        "--email",
        email,
        "--name",
        name,
        "--question",
        question,
        "--question",
        "Second question?",
        "--password-stdin",
        input="long-enough-password\nblue\nrex\n",
    )
    check(result, conn, before)
    if result.exit_code == 0:
        row = conn.execute("SELECT name FROM users WHERE lower(email) = lower(%s)", (email.strip(),)).fetchone()
        assert row["name"] == " ".join(name.split())


@SLOW
@given(ref=nasty_text, reason=nasty_text, search=nasty_text)
def test_references_searches_and_reasons(cli: Cli, login_as, conn, ref, reason, search):
    if not hasattr(test_references_searches_and_reasons, "_admin"):
        login_as("admin", "hostile-admin@example.edu")
        test_references_searches_and_reasons._admin = True  # type: ignore[attr-defined]
    for args in (
        ["register", ref],
        ["event", "show", ref],
        ["admin", "users", "show", ref],
        ["admin", "users", "list", "--search", search],
        ["admin", "capacity", ref, "5", "--reason", reason],
        ["waitlist", "remove", ref, ref, "--reason", reason],
    ):
        before = counts(conn)
        check(cli(*args), conn, before)


def test_injection_strings_are_stored_verbatim_and_harm_nothing(cli: Cli, login_as, conn):
    login_as("staff", "inject-staff@example.edu")
    start = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    for text in INJECTIONS:
        result = cli(
            "event",
            "create",
            "--title",
            text,
            "--location",
            text,
            "--description",
            text,
            "--capacity",
            "3",
            "--starts-at",
            start,
            "--publish",
            "--json",
        )
        assert result.exit_code == 0, result.output
        created = json.loads(result.stdout)
        assert (created["title"], created["location"], created["description"]) == (text, text, text)
        assert cli("event", "update", created["slug"], "--reason", text, "--location", text).exit_code == 0
    found = conn.execute(
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename IN ('users', 'events', 'registrations')"
    ).fetchone()
    assert found["n"] == 3
    assert conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == len(INJECTIONS)
    assert conn.execute("SELECT count(*) AS n FROM users WHERE role = 'admin'").fetchone()["n"] == 0
