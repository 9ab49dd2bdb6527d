"""What reaches a terminal, a pipe, a JSON reader and a spreadsheet: all the data, and nothing that
controls them."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from eventreg import text
from tests import support
from tests.conftest import Cli

LONG_TITLE = "An Unusually Long Title For A Workshop About Parsing Very Large Spreadsheets Safely"
NASTY = "Talk\x1b[2J\x1b]8;;https://evil.example\x07link\x1b]8;;\x07\u202eevil\x9b31m"


def make_event(conn, title: str, slug: str, location: str = "Lab", capacity: int = 40) -> None:
    """Rows as another tool (or an older eventreg) might have written them: no input rule applied."""
    conn.execute(
        "INSERT INTO events (slug, title, location, capacity, starts_at, ends_at, status)"
        " VALUES (%s, %s, %s, %s, '2099-01-01 10:00+00', '2099-01-01 11:00+00', 'published')",
        (slug, title, location, capacity),
    )


def test_a_pipe_gets_every_value_whole_one_row_a_line(cli: Cli, conn):
    make_event(conn, LONG_TITLE, "long-one")
    result = cli("event", "list")
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["Event", "Title", "Starts", "Registered", "Waiting", "Status"]
    fields = lines[1].split("\t")
    assert fields[:2] == ["long-one", LONG_TITLE]
    assert fields[3] == "0/40"  # figures awk can split, not a drawn bar
    assert "\x1b" not in result.stdout and "█" not in result.stdout and "░" not in result.stdout
    shown = cli("event", "show", "long-one").stdout
    assert "Registered\t0/40" in shown.splitlines() and "░" not in shown


def words(drawn: str) -> list[str]:
    """The words of a drawn table or record list, without its lines and styles."""
    import re

    plain = re.sub(r"\x1b\[[0-9;]*m", "", drawn)
    return re.sub("[│┃┏┓┗┛━─┡┩└┘┌┐╇╈┳┻┼╂┴┬]", " ", plain).split()


def in_order(needles: list[str], haystack: list[str]) -> bool:
    found = iter(haystack)
    return all(any(word == hay for hay in found) for word in needles)


@pytest.mark.parametrize("columns", ["200", "80", "60", "40"])
def test_a_terminal_table_wraps_and_never_cuts_or_drops(cli: Cli, conn, monkeypatch, columns):
    make_event(conn, LONG_TITLE, "long-one")
    conn.execute("INSERT INTO users (email, name) VALUES ('carol.longaddress@example.edu', 'Carol')")
    monkeypatch.setenv("COLUMNS", columns)
    shown = cli("event", "list", tty=True).stdout
    assert "…" not in shown
    seen = words(shown)
    for heading in ("Event", "Title", "Starts", "Registered", "Waiting", "Status"):  # no column dropped
        assert heading in seen
    assert in_order(LONG_TITLE.split(), seen) and "long-one" in seen
    users = cli.as_role("admin")("admin", "users", "list", tty=True).stdout
    assert "carol.longaddress@example.edu" in words(users)


def test_short_values_stay_whole_on_one_line_when_there_is_room(cli: Cli, conn, monkeypatch):
    make_event(conn, LONG_TITLE, "long-one")
    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setenv("NO_COLOR", "1")
    lines = cli("event", "list", tty=True).stdout.splitlines()
    row = next(line for line in lines if "long-one" in line)
    assert re.search(r"2099-01-01 \d\d:\d\d \S+", row)  # the start time, zone and all, not broken
    assert all(len(line) <= 90 for line in lines)
    assert row.rstrip().endswith("│")  # the table's right edge: nothing was cropped
    assert in_order(LONG_TITLE.split(), words("\n".join(lines)))  # the long title wrapped instead


def test_no_color_means_no_escape_codes_at_all(cli: Cli, conn, monkeypatch):
    make_event(conn, "Plain", "plain")
    monkeypatch.setenv("NO_COLOR", "1")
    for args in (["event", "list"], ["event", "show", "plain"]):
        result = cli(*args, tty=True)
        assert "\x1b" not in result.stdout + result.stderr


def test_user_text_never_controls_the_terminal_on_any_path(cli: Cli, conn):
    """Rows written before the input rules (or by hand) hold escapes: every output shows them as text."""
    make_event(conn, NASTY, "nasty", location=NASTY)
    conn.execute("INSERT INTO users (email, name, role) VALUES ('n@example.edu', %s, 'student')", (NASTY,))
    staff, admin = cli.as_role("staff"), cli.as_role("admin")
    outputs = [
        cli("event", "list"), cli("event", "list", tty=True), cli("event", "show", "nasty"),
        cli("event", "show", "nasty", tty=True), admin("admin", "users", "list", tty=True),
        admin("admin", "users", "show", "n@example.edu"), staff("event", "history", "nasty", tty=True),
        staff("register", "nasty"),  # a message naming the title
        staff("event", "publish", "nasty"),  # an error naming the title
    ]  # fmt: skip
    for result in outputs:
        everything = result.stdout + result.stderr
        own_styles = re.sub(r"\x1b\[[0-9;]*m", "", everything)  # Rich's bold headings on a terminal
        assert not text.UNSAFE.search(own_styles.replace("\n", "").replace("\t", "")), repr(everything)
    assert "\\x1b[2J" in cli("event", "show", "nasty").stdout  # shown, visibly


def test_json_keeps_user_text_exact_and_safe(cli: Cli, conn):
    make_event(conn, NASTY, "nasty")
    raw = cli("event", "show", "nasty", "--json").stdout
    assert "\x1b" not in raw  # JSON escapes control characters itself
    assert json.loads(raw)["title"] == NASTY


FORMULAS = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "plain", "", "a\x1bb"]


def test_csv_cells_never_run_as_formulas_and_both_paths_agree(cli: Cli, conn):
    """A page is written by Python, --all by PostgreSQL's COPY: the same rule, the same bytes."""
    for n, value in enumerate(FORMULAS):
        make_event(conn, f"Event {n}", f"event-{n}", location=value)
    page = cli("event", "list", "--csv", "--limit", "1000").stdout
    whole = cli("event", "list", "--csv", "--all").stdout
    assert page == whole
    places = [row["location"] for row in csv.DictReader(io.StringIO(whole))]
    assert places == ["'=HYPERLINK(\"http://x\")", "'+1+2", "'-2+3", "'@SUM(A1)", "\ufffdTab", "\ufffdCR", "plain", "",
                      "a\ufffdb"]  # fmt: skip
    assert places == [text.csv_cell(value) for value in FORMULAS]


def test_json_and_csv_go_to_a_file_as_asked(cli: Cli, conn, tmp_path):
    make_event(conn, "One", "one")
    assert cli("event", "list", "--json", "-o", str(tmp_path / "e.json")).exit_code == 0
    assert json.loads((tmp_path / "e.json").read_text())[0]["slug"] == "one"
    assert cli("event", "list", "--csv", "--all", "-o", str(tmp_path / "e.csv")).exit_code == 0
    assert next(csv.DictReader(io.StringIO((tmp_path / "e.csv").read_text())))["slug"] == "one"
    both = cli("event", "list", "--json", "--csv")
    assert both.exit_code == 2


def test_pages_follow_the_cursor_without_gaps_or_repeats(cli: Cli, conn):
    for n in range(7):
        make_event(conn, f"E{n}", f"event-{n}")
    seen, after = [], None
    while True:
        args = ["event", "list", "--json", "--limit", "3"] + (["--after", after] if after else [])
        result = cli(*args)
        seen += [e["slug"] for e in json.loads(result.stdout)]
        hint = [line for line in result.stderr.splitlines() if line.startswith("More: --after ")]
        if not hint:
            break
        after = hint[0].split()[2]
    assert sorted(seen) == [f"event-{n}" for n in range(7)] and len(seen) == 7
    everything = json.loads(cli("event", "list", "--json", "--all").stdout)
    assert [e["slug"] for e in everything] == seen


def test_usage_errors_are_one_line_with_exit_2(cli: Cli):
    for args in (["event", "create", "--capacity", "x"], ["event", "nope"], ["--no-such-flag"]):
        result = cli(*args)
        assert result.exit_code == 2 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_a_mistyped_group_or_command_gets_a_suggestion(cli: Cli):
    for args, meant in ((["evnt", "list"], "'event'"), (["event", "lst"], "'list'"), (["regster"], "'register'")):
        result = cli(*args)
        assert result.exit_code == 2 and f"Did you mean {meant}?" in result.stderr, result.stderr


def test_a_bare_group_shows_its_help(cli: Cli):
    result = cli("event")
    assert result.exit_code == 0 and "Commands:" in result.stdout


def test_flags_show_as_flags_in_help():
    result = support.run_cli(["event", "cancel", "--help"])
    assert "--yes" in result.stdout and "<bool>" not in result.stdout and "--no-yes" not in result.stdout
