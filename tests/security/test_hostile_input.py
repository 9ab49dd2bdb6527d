"""Property tests over what users type: every input gets a result or one clear `Error:` line with a
documented exit code, never a traceback; an error leaves the database as it was; and whatever
was stored comes back out without controlling the terminal."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventreg import text
from eventreg.errors import InvalidInput
from tests import support
from tests.conftest import Cli

INJECTIONS = [
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "x'); DELETE FROM events; --",
    "1; UPDATE users SET role = 'admin'",
    "$$; DROP TABLE registrations; $$",
    "%s%s%s",
    "{0}{1}",
    "Robert'); DROP TABLE students;--",
]
CONTROLS = ["\x1b[2J", "\x1b]8;;http://evil.example\x07x\x1b]8;;\x07", "\x9b31m", "\x07", "\r", "\x7f", "\x00"]
LOOKALIKES = ["аdmin@example.edu", "ad\u200bmin@example.edu", "admin@exаmple.edu", "\u202egnp.exe", "\u2066x\u2069"]
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(min_size=190, max_size=1200),
    st.sampled_from(INJECTIONS + CONTROLS + LOOKALIKES),
    st.text(alphabet=st.sampled_from(["a", " ", "é", "\x1b", "\x9b", "\u202e", "\u200e", "[", "2", "J"]), max_size=30),
    st.sampled_from(["", " ", "\t", "😀" * 60, "a" * 81]),
)
capacities = st.one_of(st.integers(-10, 10), st.integers(10**6 - 2, 10**6 + 2), st.integers(2**31 - 2, 2**63))
times = st.one_of(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.one_of(st.none(), st.timezones())
    ).map(lambda d: d.isoformat()),
    nasty_text,
    st.sampled_from(["2026-13-01T10:00", "2026-02-30", "24:00", "2026-12-01T10:00+25:00", "tomorrow", "1e9"]),
)
SOME = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXIT_CODES = {0, 1, 2, 3, 4}
OWN_STYLES = re.compile(r"\x1b\[[0-9;]*m")


def counts(conn) -> dict[str, int]:
    tables = ("users", "events", "registrations", "audit_log", "security_questions", "sessions")
    return {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in tables}  # noqa: S608


def check(result, conn, before) -> None:
    assert result.exit_code in EXIT_CODES, result.output
    assert "Traceback" not in result.output
    shown = OWN_STYLES.sub("", result.stdout + result.stderr).replace("\n", "").replace("\t", "")
    assert not text.UNSAFE.search(shown), repr(result.output)  # nothing typed can reach the terminal raw
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert counts(conn) == before


@SOME
@given(title=nasty_text, location=nasty_text, slug=st.one_of(st.none(), nasty_text), capacity=capacities, starts=times)
def test_event_create_with_hostile_values(cli: Cli, conn, title, location, slug, capacity, starts):
    before = counts(conn)
    args = ["event", "create", "--title", title, "--location", location, "--capacity", str(capacity),
            "--starts-at", starts, "--json", "--allow-past"]  # fmt: skip
    if slug is not None:
        args += ["--slug", slug]
    result = cli.as_role("staff")(*args)
    check(result, conn, before)
    if result.exit_code == 0:
        created = json.loads(result.stdout)
        assert created["title"] == title.strip() and created["location"] == location.strip()
        assert not text.UNSAFE.search(created["title"] + created["location"])
        assert 1 <= created["capacity"] <= 10**6
        shown = cli("event", "show", created["slug"], tty=True)
        check(shown, conn, counts(conn))


@SOME
@given(email=nasty_text, name=nasty_text)
def test_sign_up_with_hostile_values(cli: Cli, conn, email, name):
    before = counts(conn)
    result = cli("auth", "register", "--email", email, "--name", name, "--question", "1", "--question", "2",
                 "--password-stdin", input="long-enough-password\nblue\nrex\n")  # fmt: skip
    check(result, conn, before)
    if result.exit_code == 0:
        row = conn.execute("SELECT email, name FROM users WHERE lower(email) = lower(%s)", (email.strip(),)).fetchone()
        assert row["name"] == " ".join(name.split()) and row["email"].isascii()
        listed = cli.as_role("admin")("admin", "users", "list", "--all", tty=True)
        check(listed, conn, counts(conn))
        cli.as_role(None)


@SOME
@given(ref=nasty_text, reason=nasty_text, search=nasty_text)
def test_references_searches_and_reasons(cli: Cli, conn, ref, reason, search):
    admin = cli.as_role("admin")
    for args in (
        ["register", ref],
        ["event", "show", ref],
        ["admin", "users", "show", ref],
        ["admin", "users", "list", "--search", search],
        ["admin", "capacity", ref, "5", "--reason", reason],
        ["waitlist", "remove", ref, ref, "--reason", reason, "--yes"],
        ["event", "list", "--after", ref],
    ):
        before = counts(conn)
        check(admin(*args), conn, before)


def test_stdin_that_is_not_utf8_or_too_long_is_a_usage_error(cli: Cli):
    bad = cli("auth", "login", "--email", "student@example.edu", "--password-stdin", input=b"\xff\xfe\xfa\n")
    assert bad.exit_code == 2 and "not UTF-8" in bad.stderr
    long = cli("auth", "login", "--email", "student@example.edu", "--password-stdin", input="x" * 100_000 + "\n")
    assert long.exit_code == 2 and "longer than" in long.stderr


def test_look_alike_emails_and_bidi_names_are_refused(cli: Cli):
    tries = [("аdmin@example.edu", "Mallory"), ("mallory@example.edu", "Admin\u202e"),
             ("mal\u200blory@example.edu", "Mallory"), ("mallory@example.edu", "\x1b[2JMallory"),
             ("mallory@example.edu", "Ad\u200bmin"), ("mallory@example.edu", "Ad\u00admin"),
             ("mallory@example.edu", "Admin\u2063"), ("mallory@example.edu", "Admin\U000e0041"),
             ("mallory@example.edu", "Ad\U0001d173min"), ("mallory@example.edu", "Ad\u034fmin"),
             ("mallory@example.edu", "Admin\u3164"), ("mallory@example.edu", "\u0600Admin")]  # fmt: skip
    for email, name in tries:
        result = cli("auth", "register", "--email", email, "--name", name, "--question", "1", "--question", "2",
                     "--password-stdin", input="long-enough-password\nblue\nrex\n")  # fmt: skip
        assert result.exit_code == 2, (email, name, result.output)
    # joiners that scripts and emoji need are kept: a Persian name (ZWNJ), a family emoji (ZWJ)
    for name in (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "Sam \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "Zo\u00eb \u2764\ufe0f",
    ):
        result = cli("auth", "register", "--email", f"u{len(name)}@example.edu", "--name", name, "--question", "1",
                     "--question", "2", "--password-stdin", input="long-enough-password\nblue\nrex\n")  # fmt: skip
        assert result.exit_code == 0, (name, result.output)


def test_unpaired_surrogates_are_refused_not_a_crash(cli: Cli, db):
    """Bytes that are not UTF-8 on the command line arrive as surrogates (U+DC80-U+DCFF), and
    JSON can carry any surrogate: refused as malformed input, never an encoding crash."""
    made = cli.as_role("staff")("event", "create", "--title", "Talk\udcff", "--capacity", "5", "--starts-at",
                                "2099-01-01T10:00")  # fmt: skip
    assert made.exit_code == 2 and "U+DCFF" in made.stderr and "unexpected" not in made.stderr, made.output
    from eventreg.auth import service as auth
    from eventreg.config import load_settings

    for password in ("abc\ud800defghij", "long-enough\udfff"):
        with pytest.raises(InvalidInput, match="valid Unicode"):
            auth.login(lambda: support.work(db), load_settings(), "student@example.edu", password)


def test_injection_strings_are_stored_verbatim_and_harm_nothing(cli: Cli, conn):
    start = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    staff = cli.as_role("staff")
    for value in INJECTIONS:
        result = staff("event", "create", "--title", value, "--location", value, "--description", value,
                       "--capacity", "3", "--starts-at", start, "--publish", "--json")  # fmt: skip
        assert result.exit_code == 0, result.output
        created = json.loads(result.stdout)
        assert (created["title"], created["location"], created["description"]) == (value, value, value)
        assert staff("event", "update", created["slug"], "--reason", value, "--location", value).exit_code == 0
    tables = conn.execute(
        "SELECT count(*) AS n FROM pg_tables"
        " WHERE schemaname = 'public' AND tablename IN ('users', 'events', 'registrations')"
    ).fetchone()
    assert tables["n"] == 3
    assert conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == len(INJECTIONS)
    assert conn.execute("SELECT count(*) AS n FROM users WHERE role = 'admin'").fetchone()["n"] == 1


def test_escapes_on_a_terminal_read_one_way():
    from eventreg.text import for_terminal

    assert for_terminal("a\x1bb\u202ec\U000e0041d") == "a\\x1bb\\u202ec\\U000e0041d"  # not \ue0041: U+E004 and a 1
    # what input refuses as invisible is shown too, for rows written before the rule
    assert for_terminal("Ad\U0001d173min \u3164\u034f\u0600") == "Ad\\U0001d173min \\u3164\\u034f\\u0600"
    assert for_terminal("Sam \U0001f468\u200d\U0001f469 \u0645\u06cc\u200c\u062e") == (
        "Sam \U0001f468\u200d\U0001f469 \u0645\u06cc\u200c\u062e"
    )  # joiners stay
