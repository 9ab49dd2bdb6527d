"""Walk every command as anonymous, student, staff and admin.

Each command has a row in ROLE: the least role it needs (staff commands on an event
also need the caller to organise it: in the world below, the staff member does).
A command without a row fails `test_every_command_has_a_role`. A command below its
role must end with exit 3; at or above it, never with 3.
"""

from __future__ import annotations

import uuid

import pytest
import typer
from psycopg import sql

from eventreg.cli.app import app
from tests import support
from tests.conftest import PASSWORD

EVENT = "gate-event"
TARGET = "target@example.edu"  # holds the one seat
WAITER = "waiter@example.edu"  # waits for it
PUBLIC, STUDENT, STAFF, ADMIN, OPERATOR = "public", "student", "staff", "admin", "operator"
RANK = {STUDENT: 1, STAFF: 2, ADMIN: 3}

# command path -> (least role, arguments, standard input)
ROLE: dict[str, tuple[str, list[str], str | None]] = {
    "auth questions": (PUBLIC, [], None),
    "auth register": (PUBLIC, ["--email", "new@example.edu", "--name", "New", "--question", "1", "--question", "2",
                               "--password-stdin"], f"{PASSWORD}\na\nb\n"),
    "auth login": (PUBLIC, ["--email", TARGET, "--password-stdin"], f"{PASSWORD}\n"),
    "auth reset-password": (PUBLIC, ["--email", TARGET, "--password-stdin"], "blue\nrex\nanother-password\n"),
    "admin bootstrap": (PUBLIC, ["--email", "first@example.edu", "--name", "First", "--password-stdin"],
                        f"{PASSWORD}\n"),
    "event list": (PUBLIC, [], None),
    "event show": (PUBLIC, [EVENT], None),
    "auth logout": (STUDENT, [], None),
    "auth status": (STUDENT, [], None),
    "auth whoami": (STUDENT, [], None),
    "auth password": (STUDENT, ["--password-stdin"], f"{PASSWORD}\nanother-password\n"),
    "user show": (STUDENT, [], None),
    "user update": (STUDENT, ["--name", "Renamed"], None),
    "user security-questions": (STUDENT, ["--question", "3", "--question", "4", "--password-stdin"],
                                f"{PASSWORD}\na\nb\n"),
    "register for": (STUDENT, [EVENT], None),
    "register cancel": (STUDENT, [EVENT], None),
    "register list": (STUDENT, [], None),
    "waitlist leave": (STUDENT, [EVENT], None),
    "event create": (STAFF, ["--title", "New", "--capacity", "5", "--starts-at", "2099-02-01T10:00"], None),
    "event update": (STAFF, [EVENT, "--location", "Room 2"], None),
    "event publish": (STAFF, [EVENT], None),
    "event cancel": (STAFF, [EVENT, "--yes"], None),
    "event checkin": (STAFF, [EVENT, TARGET], None),
    "event attendance": (STAFF, [EVENT], None),
    "event history": (STAFF, [EVENT], None),
    "event stats": (STAFF, [EVENT], None),
    "event organisers list": (STAFF, [EVENT], None),
    "event organisers add": (STAFF, [EVENT, "admin@example.edu"], None),
    "event organisers remove": (STAFF, [EVENT, "staff@example.edu"], None),
    "waitlist list": (STAFF, [EVENT], None),
    "waitlist promote": (STAFF, [EVENT, WAITER, "--over-capacity"], None),
    "waitlist move": (STAFF, [EVENT, WAITER, "--to", "1"], None),
    "waitlist remove": (STAFF, [EVENT, WAITER, "--yes"], None),
    "user import": (ADMIN, ["users.csv"], None),
    "admin create": (ADMIN, ["--email", "admin2@example.edu", "--name", "Second", "--reset-code"], None),
    "admin users list": (ADMIN, [], None),
    "admin users show": (ADMIN, [TARGET], None),
    "admin users role": (ADMIN, [TARGET, "staff"], None),
    "admin users deactivate": (ADMIN, [TARGET, "--yes"], None),
    "admin users reactivate": (ADMIN, [TARGET], None),
    "admin users unlock": (ADMIN, [TARGET], None),
    "admin users reset-code": (ADMIN, [TARGET], None),
    "admin registrations": (ADMIN, [], None),
    "admin capacity": (ADMIN, [EVENT, "3"], None),
}  # fmt: skip


def all_commands() -> list[str]:
    """Every command path (a group that runs without a sub-command counts as one)."""
    found: list[str] = []

    def walk(command, path: list[str]) -> None:
        if hasattr(command, "list_commands"):  # a group (the root loads its groups on demand)
            ctx = typer.Context(command)
            if path and getattr(command, "invoke_without_command", False):
                found.append(" ".join(path))
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
        else:
            found.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return sorted(found)


COMMANDS = all_commands()


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_has_a_role(path):
    # db commands and `serve` are the operator's: they hold the database URL, not a session
    assert path in ROLE or path.startswith("db ") or path == "serve", f"add {path!r} to ROLE"


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_help_has_an_example(path):
    result = support.run_cli([*path.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout, f"{path} --help has no example"
    assert "╭" not in result.stdout, f"{path} --help is drawn in boxes, unlike the other commands"


@pytest.fixture(scope="session")
def gate_world(admin_url, template) -> str:
    """A template with the world the gate needs: staff organise EVENT, one seat taken by
    TARGET and WAITER waiting. Each case copies it."""
    from eventreg.events import service as events
    from eventreg.registration import service as registration

    url = support.create_database(admin_url, f"eventreg_gate_{uuid.uuid4().hex[:6]}", template=template.name, keep=True)
    with support.work(url) as uow:
        target, waiter = (support.insert_users(uow.conn, 1, prefix=p)[0] for p in ("target", "waiter"))
        uow.conn.execute("UPDATE users SET email = %s, password_hash = (SELECT password_hash FROM users WHERE email = "
                         "'student@example.edu') WHERE id = %s", (TARGET, target.id))  # fmt: skip
        uow.conn.execute("UPDATE users SET email = %s WHERE id = %s", (WAITER, waiter.id))
        uow.conn.execute(
            "INSERT INTO security_questions (user_id, question_key, answer_hash)"
            " SELECT %s, question_key, answer_hash FROM security_questions WHERE user_id = %s",
            (target.id, template.people["student"].id),
        )
        events.create(uow, template.people["staff"], title="Gate Event", capacity=1, starts_at="2099-01-01T10:00",
                      slug=EVENT, publish=True)  # fmt: skip
    for person in (target, waiter):
        with support.work(url) as uow:
            registration.register(uow, person, EVENT)
    return url.rsplit("dbname=", 1)[-1].split()[0]


def fingerprint(url: str) -> str:
    """What the tables hold, as one hash: equal before and after means nothing was written."""
    from eventreg.db.connection import connect

    tables = ["users", "security_questions", "sessions", "events", "event_organisers", "registrations",
              "audit_log", "password_resets"]  # fmt: skip
    with connect(url, autocommit=True) as conn:
        query = "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS h FROM {} t"
        parts = [conn.execute(sql.SQL(query).format(sql.Identifier(table))).fetchone()["h"] for table in tables]
    return ",".join(parts)


@pytest.mark.parametrize("path", sorted(ROLE))
def test_role_gate(path, gate_world, admin_url, template, memory_keyring, monkeypatch, tmp_path):
    """Allowed callers each run on a fresh copy of the world; refused callers all run on one
    witness copy, which must be exactly as it was afterwards: a refusal writes nothing."""
    from tests.conftest import Cli, point_at

    need, args, stdin = ROLE[path]
    (tmp_path / "users.csv").write_text("email,name\nimported@example.edu,Imported\n")
    witness = support.create_database(admin_url, f"eventreg_g_{uuid.uuid4().hex[:8]}", template=gate_world)
    before = fingerprint(witness)
    for caller in ("anonymous", STUDENT, STAFF, ADMIN):
        allowed = need == PUBLIC or (caller != "anonymous" and RANK[caller] >= RANK[need])
        url = (
            support.create_database(admin_url, f"eventreg_g_{uuid.uuid4().hex[:8]}", template=gate_world)
            if allowed
            else witness
        )
        point_at(monkeypatch, url, tmp_path)
        cli = Cli(monkeypatch, template).as_role(None if caller == "anonymous" else caller)
        result = cli(*path.split(), *args, input=stdin)
        assert "Traceback" not in result.output
        if allowed:
            assert result.exit_code in (0, 1, 4), f"{path} as {caller}: {result.output}"
        else:
            assert result.exit_code == 3, f"{path} let {caller} through: {result.output}"
    assert fingerprint(witness) == before, f"a refused {path} wrote to the database"


def test_staff_who_do_not_organise_an_event_may_look_but_not_change(gate_world, admin_url, cli, monkeypatch, conn):
    """Other staff may look at the event and who runs it; the students on it (attendance,
    waitlist, history, figures) are its organisers' and admins' business, as is every change."""
    copy = support.create_database(admin_url, f"eventreg_g_{uuid.uuid4().hex[:8]}", template=gate_world)
    monkeypatch.setenv("DATABASE_URL_TEST", copy)
    with support.work(copy) as uow:
        uow.conn.execute("DELETE FROM event_organisers")
    staff = cli.as_role(STAFF)
    assert staff("event", "show", EVENT).exit_code == 0
    assert staff("event", "organisers", "list", EVENT).exit_code == 0
    for args in (["event", "attendance", EVENT], ["event", "attendance", EVENT, "--all", "--csv"],
                 ["waitlist", "list", EVENT], ["waitlist", "list", EVENT, "--all", "--csv"],
                 ["event", "history", EVENT], ["event", "history", EVENT, "--all", "--csv"],
                 ["event", "stats", EVENT]):  # fmt: skip
        refused = staff(*args)
        assert refused.exit_code == 3 and "may see who registered" in refused.stderr, args
        assert TARGET not in refused.stdout and WAITER not in refused.stdout
    for args in (["event", "update", EVENT, "--location", "X"], ["event", "checkin", EVENT, TARGET],
                 ["waitlist", "move", EVENT, WAITER, "--to", "1"], ["event", "cancel", EVENT, "--yes"]):  # fmt: skip
        refused = staff(*args)
        assert refused.exit_code == 3 and "organisers" in refused.stderr, args
    assert cli.as_role(ADMIN)("event", "update", EVENT, "--location", "X").exit_code == 0
