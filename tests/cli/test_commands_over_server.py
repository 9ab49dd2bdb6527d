"""Every command answers the same through an eventreg server as on the database itself.

Two copies of one world (the role gate's: staff organise `gate-event`, its one seat
taken, someone waiting) are made for each case: the command line runs on one copy
directly (DATABASE_URL) and on the other through `eventreg serve` (EVENTREG_SERVER,
no database URL at all). Each command is run by every caller in turn, then in its
JSON, CSV and paged forms where it has them, and each step must give the same exit
code, the same standard output and the same messages on both sides. Only what must
differ is normalised: times the test itself makes, one-time codes, paging cursors,
the `Database`/`Server` line of `auth status`, and the server a login names.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests import support
from tests.cli.test_permissions import ADMIN, ROLE, STAFF, STUDENT, gate_world  # noqa: F401  (a fixture)
from tests.conftest import Cli, point_at
from tests.server.conftest import server  # noqa: F401  (a fixture)

CALLERS = ("anonymous", STUDENT, STAFF, ADMIN)
TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:?\d\d|Z)?")
CODE_LINE = re.compile(r"^[A-Za-z0-9_-]{6,}$", re.M)  # the one line a reset code is printed on
CURSOR = re.compile(r"--after \S+")


@pytest.fixture
def db(admin_url: str, gate_world: str) -> str:  # noqa: F811  (the server serves this copy)
    return support.create_database(admin_url, f"eventreg_s_{uuid.uuid4().hex[:8]}", template=gate_world)


@pytest.fixture
def twin(admin_url: str, gate_world: str) -> str:  # noqa: F811
    """The copy the command line uses directly."""
    return support.create_database(admin_url, f"eventreg_l_{uuid.uuid4().hex[:8]}", template=gate_world)


class Sides:
    """Run one command line on the local copy and through the server, and compare."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, template, tmp_path: Path, twin: str, origin: str) -> None:
        self.monkeypatch, self.template, self.tmp_path = monkeypatch, template, tmp_path
        self.twin, self.origin = twin, origin
        (tmp_path / "users.csv").write_text("email,name\nimported@example.edu,Imported\n")

    def _local(self) -> None:
        point_at(self.monkeypatch, self.twin, self.tmp_path)

    def _remote(self) -> None:
        point_at(self.monkeypatch, self.twin, self.tmp_path)
        for key in ("DATABASE_URL", "DATABASE_URL_TEST", "JWT_SECRET"):  # the client holds none of them
            self.monkeypatch.delenv(key)
        self.monkeypatch.setenv("EVENTREG_SERVER", self.origin)

    def run(self, caller: str, args: list[str], stdin: str | None) -> tuple[support.Result, support.Result]:
        results = []
        for side in (self._local, self._remote):
            side()
            cli = Cli(self.monkeypatch, self.template).as_role(None if caller == "anonymous" else caller)
            results.append(cli(*args, input=stdin))
        local, remote = results
        what = f"{' '.join(args)} as {caller}"
        assert "Traceback" not in local.output + remote.output, what
        assert remote.exit_code == local.exit_code, f"{what}: {local.output!r} / {remote.output!r}"
        assert normal(remote.stdout, self.origin) == normal(local.stdout, self.origin), what
        assert normal(remote.stderr, self.origin) == normal(local.stderr, self.origin), what
        return local, remote


def normal(text: str, origin: str) -> str:
    text = TIME.sub("<time>", text)
    text = CURSOR.sub("--after <cursor>", text)
    text = CODE_LINE.sub("<code>", text)
    text = re.sub(r"^(Database|Server)\t.*$", "<where>", text, flags=re.M)
    text = re.sub(r'"server": (null|"[^"]*")', '"server": <where>', text)
    return text.replace(f") on {origin} until ", ") until ")  # a login through a server names it


@pytest.fixture
def sides(monkeypatch, template, tmp_path, twin, server, memory_keyring) -> Sides:  # noqa: F811
    return Sides(monkeypatch, template, tmp_path, twin, server)


def _forms(path: str, args: list[str]) -> list[list[str]]:
    """The JSON, CSV and paged forms of a command that has them (from its help)."""
    help_text = support.run_cli([*path.split(), "--help"]).stdout
    forms = []
    if "--json" in help_text:
        forms.append([*args, "--json"])
    if "--all" in help_text:
        forms += [[*args, "--all", "--csv"], [*args, "--limit", "1"], [*args, "--all", "--json"]]
    return forms


# The commands in the order each group's walk runs them on one pair of copies: whatever
# ends sessions or destroys comes late, so the commands before it still get through.
WALKS = {
    "auth": ["auth questions", "auth register", "auth status", "auth whoami", "auth password", "auth logout",
             "auth login", "auth reset-password"],
    "user": ["user show", "user update", "user security-questions", "user import"],
    "event": ["event list", "event show", "event create", "event update", "event publish", "event checkin",
              "event attendance", "event history", "event stats", "event organisers list", "event organisers add",
              "event organisers remove", "event cancel"],
    "register": ["register list", "waitlist list", "waitlist move", "waitlist promote", "register for",
                 "register cancel", "waitlist leave", "waitlist remove"],
    "admin": ["admin users list", "admin users show", "admin registrations", "admin capacity", "admin users role",
              "admin users unlock", "admin users reset-code", "admin create", "admin users deactivate",
              "admin users reactivate"],
}  # fmt: skip


def test_the_walks_cover_every_command_but_bootstrap():
    walked = [path for paths in WALKS.values() for path in paths]
    assert sorted(walked) == sorted(set(ROLE) - {"admin bootstrap"})


@pytest.mark.parametrize("walk", sorted(WALKS))
def test_every_command_gives_the_same_answer_through_the_server(walk: str, sides: Sides):
    for path in WALKS[walk]:
        _, args, stdin = ROLE[path]
        codes = set()
        for caller in CALLERS:
            local, _ = sides.run(caller, [*path.split(), *args], stdin)
            codes.add(local.exit_code)
        for form in _forms(path, args):
            local, _ = sides.run(ADMIN, [*path.split(), *form], stdin)
            codes.add(local.exit_code)
        assert codes & {0, 1, 4}, f"{path} never got past the gate: the comparison proved little"


def test_bootstrap_is_refused_over_a_server_with_the_reason(sides: Sides, monkeypatch):
    sides._remote()
    result = Cli(monkeypatch, sides.template)(
        "admin", "bootstrap", "--email", "a@example.edu", "--name", "A", "--password-stdin", input="pw-123456789\n"
    )
    assert result.exit_code == 5 and "needs the database itself" in result.stderr


def test_a_student_day_reads_the_same_json_both_ways(sides: Sides):
    """The JSON documents themselves, parsed, are equal (not only their text)."""
    steps = [
        (STUDENT, ["event", "list", "--json"]),
        (STUDENT, ["event", "show", "gate-event", "--json"]),
        (STUDENT, ["register", "for", "gate-event"]),
        (STUDENT, ["register", "list", "--json"]),
        (STUDENT, ["user", "show", "--json"]),
        (STUDENT, ["auth", "status", "--json"]),
        (STAFF, ["waitlist", "list", "gate-event", "--json"]),
        (STAFF, ["event", "stats", "gate-event", "--json"]),
        (ADMIN, ["admin", "registrations", "--json", "--all"]),
        (STUDENT, ["register", "cancel", "gate-event"]),
        (STAFF, ["event", "history", "gate-event", "--json"]),
    ]
    for caller, args in steps:
        local, remote = sides.run(caller, args, None)
        if "--json" in args:
            here, there = json.loads(local.stdout), json.loads(remote.stdout)
            if args[:2] == ["auth", "status"]:
                assert (here["server"], there["server"]) == (None, sides.origin)
                here["server"] = there["server"] = None
            assert _untimed(there) == _untimed(here), args


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    if isinstance(value, str) and TIME.fullmatch(value):
        return "<time>"
    return value
