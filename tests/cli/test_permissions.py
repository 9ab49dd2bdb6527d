"""Walk every command of the app as anonymous, student, staff and admin.

Each command must declare its role with @declare; a role-gated command must refuse
(exit 3) exactly the callers below that role. A new command without a declared
role, or without sample arguments here, fails this test.
"""

from __future__ import annotations

import pytest
import typer

from eventreg.access import ADMIN, DECLARED_ATTR, OPERATOR, PUBLIC, ROLE_RANK, STAFF, STUDENT
from eventreg.auth import service
from eventreg.cli import app
from tests.conftest import PASSWORD, Cli, make_user
from tests.registration.helpers import actor_for

EVENT = "perm-event"
TARGET = "target@example.edu"  # a registered student the staff commands act on
WAITER = "waiter@example.edu"  # a student on the waitlist

# Arguments that pass parsing for every command (and stdin where it reads secrets).
SAMPLES: dict[str, tuple[list[str], str | None]] = {
    "user show": ([], None),
    "user update": (["--name", "Renamed"], None),
    "user security-questions": (["--question", "Q one?", "--question", "Q two?", "--answers-stdin"], "a\nb\n"),
    "auth register": (
        [
            "--email",
            "new@example.edu",
            "--name",
            "New",
            "--question",
            "Q one?",
            "--question",
            "Q two?",
            "--password-stdin",
        ],
        f"{PASSWORD}\na\nb\n",
    ),
    "auth login": (["--email", TARGET, "--password-stdin"], f"{PASSWORD}\n"),
    "auth logout": ([], None),
    "auth status": ([], None),
    "auth whoami": ([], None),
    "auth password": (["--password-stdin"], f"{PASSWORD}\nanother-password\n"),
    "auth reset-password": (["--email", TARGET, "--password-stdin"], "blue\nrex\nanother-password\n"),
    "event create": (["--title", "New", "--capacity", "5", "--starts-at", "2099-02-01T10:00"], None),
    "event update": ([EVENT, "--location", "Room 2"], None),
    "event publish": ([EVENT], None),
    "event cancel": ([EVENT, "--yes"], None),
    "event list": ([], None),
    "event show": ([EVENT], None),
    "event checkin": ([EVENT, TARGET], None),
    "event attendance": ([EVENT], None),
    "event history": ([EVENT], None),
    "register for": ([EVENT], None),
    "register cancel": ([EVENT], None),  # --user (staff only) is covered in the service tests
    "register list": ([], None),
    "waitlist leave": ([EVENT], None),
    "waitlist list": ([EVENT], None),
    "waitlist promote": ([EVENT, WAITER, "--over-capacity"], None),
    "waitlist move": ([EVENT, WAITER, "--to", "1"], None),
    "waitlist remove": ([EVENT, WAITER], None),
    "event stats": ([EVENT], None),
    "user import": (["users.csv"], None),
    "admin create": (["--email", "admin2@example.edu", "--name", "Second", "--reset-code"], None),
    "admin users list": ([], None),
    "admin users show": ([TARGET], None),
    "admin users role": ([TARGET, "staff"], None),
    "admin users deactivate": ([TARGET], None),
    "admin users reactivate": ([TARGET], None),
    "admin users unlock": ([TARGET], None),
    "admin users reset-code": ([TARGET], None),
    "admin registrations": ([], None),
    "admin capacity": ([EVENT, "3"], None),
    "admin bootstrap": (["--email", "first@example.edu", "--name", "First", "--password-stdin"], f"{PASSWORD}\n"),
}


def all_commands() -> dict[str, object]:
    """Every command path with its callback (groups with a callback count as commands)."""
    found: dict[str, object] = {}

    def walk(command, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            if path and getattr(command, "invoke_without_command", False):
                found[" ".join(path)] = command.callback
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = command.callback

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = all_commands()
GATED = sorted(path for path, cb in COMMANDS.items() if getattr(cb, DECLARED_ATTR, None) in ROLE_RANK)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_declares_a_role(path):
    role = getattr(COMMANDS[path], DECLARED_ATTR, None)
    assert role in (PUBLIC, OPERATOR, STUDENT, STAFF, ADMIN), f"{path} declares no role"
    if role != OPERATOR:
        assert path in SAMPLES, f"add sample arguments for {path!r} to SAMPLES"


def test_operator_commands_are_the_database_tools():
    operators = {p for p, cb in COMMANDS.items() if getattr(cb, DECLARED_ATTR, None) == OPERATOR}
    assert operators and all(p.startswith("db ") or p == "db seed" for p in operators)


@pytest.fixture
def world(conn, settings):
    """Users of every role, an event with one seat taken by TARGET and WAITER waiting."""
    from eventreg.events import service as events
    from eventreg.registration import service as registration

    people = {role: make_user(conn, settings, f"{role}@example.edu", role) for role in (STUDENT, STAFF, ADMIN)}
    target = make_user(conn, settings, TARGET)
    waiter = make_user(conn, settings, WAITER)
    events.create(conn, actor_for(people[STAFF]), "Perm Event", 1, "2099-01-01T10:00", slug=EVENT)
    events.publish(conn, actor_for(people[STAFF]), EVENT)
    registration.register(conn, actor_for(target), EVENT)
    registration.register(conn, actor_for(waiter), EVENT)
    return people


@pytest.mark.parametrize("path", GATED)
@pytest.mark.parametrize("caller", ["anonymous", STUDENT, STAFF, ADMIN])
def test_role_gate(path, caller, world, cli: Cli, conn, settings, monkeypatch, tmp_path):
    (tmp_path / "users.csv").write_text("email,name\nimported@example.edu,Imported\n")
    required = getattr(COMMANDS[path], DECLARED_ATTR)
    if caller == "anonymous":
        monkeypatch.delenv("EVENTREG_TOKEN", raising=False)
    else:
        token, _ = service.login(conn, settings, f"{caller}@example.edu", PASSWORD)
        monkeypatch.setenv("EVENTREG_TOKEN", token)
    args, stdin = SAMPLES[path]
    result = cli(*path.split(), *args, input=stdin)
    allowed = caller != "anonymous" and ROLE_RANK[caller] >= ROLE_RANK[required]
    if allowed:
        assert result.exit_code != 3, f"{path} refused {caller}: {result.stderr}"
        assert result.exit_code in (0, 1, 4), f"{path} as {caller}: {result.output}"
    else:
        assert result.exit_code == 3, f"{path} let {caller} through: {result.output}"
        assert "Traceback" not in result.output


@pytest.mark.parametrize("path", sorted(p for p in SAMPLES if getattr(COMMANDS[p], DECLARED_ATTR) == PUBLIC))
def test_public_commands_work_without_a_login(path, world, cli: Cli, monkeypatch):
    monkeypatch.delenv("EVENTREG_TOKEN", raising=False)
    args, stdin = SAMPLES[path]
    result = cli(*path.split(), *args, input=stdin)
    assert "not logged in" not in result.stderr
    assert result.exit_code in (0, 1), f"{path}: {result.output}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_help_has_an_example(path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout, f"{path} --help has no example"
