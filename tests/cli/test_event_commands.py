"""A staff member's and a student's day through the command line, and the output that shows it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from eventreg.errors import DomainError
from tests.conftest import Cli

EVENT_KEYS = {
    "id", "slug", "title", "description", "location", "status", "capacity", "registered", "available", "waitlist",
    "starts_at", "ends_at", "registration_opens_at", "registration_closes_at",
}  # fmt: skip


def create(cli: Cli, *extra: str, title: str = "Python Workshop", capacity: str = "1") -> dict:
    result = cli.as_role("staff")(
        "event", "create", "--title", title, "--capacity", capacity, "--starts-at", "2099-03-01T14:00",
        "--publish", "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def student(cli: Cli, email: str) -> Cli:
    """Sign up and log in a new student (the token goes to the in-memory keyring)."""
    cli.as_role(None)
    made = cli("auth", "register", "--email", email, "--name", email.split("@")[0].title(), "--question", "1",
               "--question", "2", "--password-stdin", input="student-pass-1\na\nb\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert cli("auth", "login", "--email", email, "--password-stdin", input="student-pass-1\n").exit_code == 0
    return cli


def test_staff_day_create_list_show_update(cli: Cli):
    event = create(cli, "--location", "Lab 2")
    assert set(event) == EVENT_KEYS and event["slug"] == "python-workshop"
    listed = json.loads(cli("event", "list", "--json").stdout)
    assert [e["slug"] for e in listed] == ["python-workshop"]
    shown = json.loads(cli("event", "show", str(event["id"]), "--json").stdout)
    assert shown["location"] == "Lab 2" and shown["available"] == 1
    updated = cli("event", "update", "python-workshop", "--capacity", "3", "--json")
    assert json.loads(updated.stdout)["event"]["capacity"] == 3
    assert cli("event", "update", "python-workshop").exit_code == 2  # nothing to change


def test_moving_the_start_past_the_end_moves_the_end_with_it(cli: Cli):
    create(cli)  # 14:00 to 15:00
    moved = cli("event", "update", "python-workshop", "--starts-at", "2099-03-02T18:00", "--json")
    event = json.loads(moved.stdout)["event"]
    assert (event["starts_at"], event["ends_at"]) == ("2099-03-02T18:00:00+00:00", "2099-03-02T19:00:00+00:00")
    wrong = cli("event", "update", "python-workshop", "--ends-at", "2099-03-02T17:00")
    assert wrong.exit_code == 2 and "end after it starts" in wrong.stderr


def test_an_event_in_the_past_needs_confirming(cli: Cli):
    staff = cli.as_role("staff")
    refused = staff("event", "create", "--title", "Old", "--capacity", "5", "--starts-at", "2001-01-01T10:00")
    assert refused.exit_code == 1 and "--allow-past" in refused.stderr
    allowed = staff("event", "create", "--title", "Old", "--capacity", "5", "--starts-at", "2001-01-01T10:00",
                    "--allow-past")  # fmt: skip
    assert allowed.exit_code == 0
    assert staff("event", "publish", "old").exit_code == 1
    assert staff("event", "publish", "old", "--allow-past").exit_code == 0
    create(cli)  # moving an upcoming event into the past asks the same
    moved = staff("event", "update", "python-workshop", "--starts-at", "2001-01-01T10:00")
    assert moved.exit_code == 1 and "--allow-past" in moved.stderr
    assert staff("event", "update", "python-workshop", "--starts-at", "2001-01-01T10:00", "--allow-past").exit_code == 0


@pytest.mark.parametrize("answer", ["y\n", "n\n"])
def test_the_past_start_question_shows_the_whole_time_and_a_no_changes_nothing(answer):
    from types import SimpleNamespace

    from eventreg.cli.event import _ask_past
    from eventreg.cli.prompts import Prompter

    class Keyboard(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = io.StringIO()
    inv: Any = SimpleNamespace(prompt=Prompter(stdin=Keyboard(answer), stderr=screen))
    refusal = DomainError("Old one starts in the past (2026-12-03 14:00 UTC): confirm, or pass --allow-past")
    if answer.startswith("y"):
        assert _ask_past(inv, refusal, allow_past=False) is True
    else:
        with pytest.raises(DomainError, match="^nothing was changed$"):
            _ask_past(inv, refusal, allow_past=False)
    assert screen.getvalue() == "Old one starts in the past (2026-12-03 14:00 UTC). Go ahead? [y/N] "


def test_a_bad_time_names_the_option_it_came_with(cli: Cli):
    create(cli)
    staff = cli.as_role("staff")
    for option in ("--starts-at", "--ends-at", "--registration-opens", "--registration-closes"):
        bad = staff("event", "update", "python-workshop", option, "nope")
        assert bad.exit_code == 2 and f"{option} must be" in bad.stderr, (option, bad.stderr)


def test_student_day_register_waitlist_cancel(cli: Cli):
    create(cli)
    first = student(cli, "first@example.edu")("register", "python-workshop")
    assert first.exit_code == 0 and first.stderr == "Registered for Python Workshop.\n"
    again = cli("register", "python-workshop")
    assert again.exit_code == 1 and "already registered" in again.stderr
    second = student(cli, "second@example.edu")("register", "python-workshop")
    assert second.stderr == "Python Workshop is full: you are number 1 on the waitlist.\n"
    mine = json.loads(cli("register", "list", "--json").stdout)
    assert [(r["slug"], r["status"], r["position"]) for r in mine] == [("python-workshop", "waitlisted", 1)]
    assert set(mine[0]) == {"slug", "title", "status", "position", "starts_at", "registered_at", "checked_in_at"}
    cli("auth", "login", "--email", "first@example.edu", "--password-stdin", input="student-pass-1\n")
    cancelled = cli("register", "cancel", "python-workshop")
    assert cancelled.exit_code == 0
    assert cancelled.stderr.splitlines() == [
        "Cancelled your registration for Python Workshop.",  # who got the seat is the organisers' business
    ]
    cli("auth", "login", "--email", "second@example.edu", "--password-stdin", input="student-pass-1\n")
    mine = json.loads(cli("register", "list", "--json").stdout)
    assert [(r["slug"], r["status"]) for r in mine] == [("python-workshop", "registered")]


def test_a_slug_never_takes_the_name_of_a_register_command(cli: Cli):
    made = create(cli, title="Cancel")
    assert made["slug"] == "cancel-event"
    assert cli.as_role("student")("register", "cancel-event").exit_code == 0
    bad = cli.as_role("staff")("event", "create", "--title", "X", "--capacity", "1", "--starts-at",
                                "2099-01-01T10:00", "--slug", "list")  # fmt: skip
    assert bad.exit_code == 2 and "command name" in bad.stderr


def test_every_register_sub_command_is_a_reserved_slug():
    """A new `register` sub-command must be added to RESERVED_SLUGS, or `register NEW` would be ambiguous."""
    import typer

    from eventreg.cli import register
    from eventreg.events.rules import RESERVED_SLUGS

    group = typer.main.get_group(register.app)
    assert set(group.list_commands(None)) <= RESERVED_SLUGS  # type: ignore[arg-type]


def test_attendance_csv_history_and_checkin(cli: Cli):
    create(cli)
    student(cli, "att@example.edu")("register", "python-workshop")
    staff = cli.as_role("staff")
    checked = staff("event", "checkin", "python-workshop", "att@example.edu")
    assert checked.exit_code == 0 and checked.stderr.startswith("Checked in att@example.edu at Python Workshop,")
    assert checked.stderr.rstrip().endswith("UTC.")  # a time always shows its zone
    rows = list(csv.DictReader(io.StringIO(staff("event", "attendance", "python-workshop", "--csv").stdout)))
    assert [(r["email"], r["present"]) for r in rows] == [("att@example.edu", "true")]
    history = json.loads(staff("event", "history", "python-workshop", "--json").stdout)
    assert [h["action"] for h in history] == ["event.created", "registered", "checked_in"]


def test_waitlist_commands(cli: Cli):
    create(cli)
    for name in ("w0", "w1", "w2", "w3"):
        student(cli, f"{name}@example.edu")("register", "python-workshop")
    staff = cli.as_role("staff")
    moved = staff("waitlist", "move", "python-workshop", "w3@example.edu", "--to", "1")
    assert moved.stderr == "Moved w3@example.edu to number 1 on the waitlist of Python Workshop.\n"
    waiting = json.loads(staff("waitlist", "list", "python-workshop", "--json").stdout)
    assert [(w["position"], w["email"]) for w in waiting] == [
        (1, "w3@example.edu"), (2, "w1@example.edu"), (3, "w2@example.edu"),
    ]  # fmt: skip
    full = staff("waitlist", "promote", "python-workshop", "w2@example.edu")
    assert full.exit_code == 1 and "--over-capacity" in full.stderr
    assert staff("waitlist", "remove", "python-workshop", "w2@example.edu").exit_code == 2  # needs --yes
    plan = staff("waitlist", "remove", "python-workshop", "w2@example.edu", "--dry-run")
    assert plan.exit_code == 0 and "number 3" in plan.stderr and "nothing was changed" in plan.stderr
    assert len(json.loads(staff("waitlist", "list", "python-workshop", "--json").stdout)) == 3
    assert staff("waitlist", "remove", "python-workshop", "w2@example.edu", "--yes").exit_code == 0
    assert staff("waitlist", "remove", "python-workshop", "w2@example.edu", "--yes").exit_code == 4


def test_cancel_says_whom_it_affects_and_needs_yes_without_a_terminal(cli: Cli):
    create(cli)
    student(cli, "held@example.edu")("register", "python-workshop")
    staff = cli.as_role("staff")
    refused = staff("event", "cancel", "python-workshop")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert "1 person registered and 0 people waiting" in refused.stderr
    dry = staff("event", "cancel", "python-workshop", "--dry-run")
    assert dry.exit_code == 0 and "held@example.edu" in dry.stderr
    assert json.loads(staff("event", "show", "python-workshop", "--json").stdout)["status"] == "published"
    assert staff("event", "cancel", "python-workshop", "--yes").exit_code == 0
    assert json.loads(staff("event", "show", "python-workshop", "--json").stdout)["status"] == "cancelled"


def test_capacity_dry_run_names_who_would_get_in_and_changes_nothing(cli: Cli):
    create(cli)
    for name in ("s0", "s1", "s2"):
        student(cli, f"{name}@example.edu")("register", "python-workshop")
    admin = cli.as_role("admin")
    plan = admin("admin", "capacity", "python-workshop", "3", "--dry-run")
    assert plan.exit_code == 0
    assert [line.split(" <")[0].strip() for line in plan.stderr.splitlines() if "would get a seat" in line] == [
        "1. S1", "2. S2",
    ]  # fmt: skip
    assert json.loads(admin("event", "show", "python-workshop", "--json").stdout)["capacity"] == 1
    done = admin("admin", "capacity", "python-workshop", "3")
    assert done.exit_code == 0 and "2 promoted" in done.stderr
    lower = admin("admin", "capacity", "python-workshop", "2")
    assert lower.exit_code == 1 and "has 3 registered" in lower.stderr


def test_bad_input_is_one_line_without_traceback(cli: Cli):
    staff = cli.as_role("staff")
    for args in (
        ["--capacity", "0"],
        ["--capacity", "-5"],
        ["--capacity", "many"],
        ["--starts-at", "tomorrow"],
        ["--starts-at", "9999-12-31T23:59"],
        ["--slug", "Bad Slug!"],
        ["--title", "x" * 300],
        ["--title", "clear\x1b[2Jscreen"],
    ):
        base = {"--title": "T", "--capacity": "5", "--starts-at": "2099-01-01T10:00"}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        result = staff("event", "create", *[x for pair in base.items() for x in pair])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
        assert "\x1b" not in result.stderr
    assert staff("event", "show", "no-such-event").exit_code == 4
    assert staff("event", "list", "--limit", "0").exit_code == 2
    assert staff("event", "list", "--after", "garbage").exit_code == 2


def test_debug_shows_a_traceback_and_keeps_the_exit_code(cli: Cli):
    plain = cli.as_role("staff")("event", "show", "no-such-event")
    debug = cli("event", "show", "no-such-event", "--debug")
    assert plain.exit_code == debug.exit_code == 4
    assert "Traceback" in debug.stderr and "Traceback" not in plain.stderr
    front = cli("--debug", "event", "show", "no-such-event")
    assert front.exit_code == 4 and "Traceback" in front.stderr


def test_global_options_work_after_the_command(cli: Cli, monkeypatch):
    monkeypatch.setenv("EVENTREG_ENV", "dev")  # DATABASE_URL is the same database
    wrong = cli("event", "list", "--env", "nowhere")
    assert wrong.exit_code == 2 and "unknown environment" in wrong.stderr
    assert cli("event", "list", "--env", "test").exit_code == 0
