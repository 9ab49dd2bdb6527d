"""Text from the database or a server reaches no terminal raw: not through a prompt (the
command runs on a real pseudo-terminal), not through --json (which must still parse to
exactly the stored text).

Rows are planted by SQL, as another tool or an older eventreg might have written them,
before the input rules refused such characters."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventreg import text
from tests.conftest import PASSWORD, Cli

# ESC sequences (clear the screen, a hidden link), a C1 CSI (U+009B), DEL, a bidi override,
# a line separator and an invisible tag above U+FFFF; then text that must stay as it is.
NASTY = "Talk\x1b[2J\x1b]8;;https://evil.example\x07link\x1b]8;;\x07\x9b31m\x7f\u202eevil\u2028\U000e0041"
KEPT = " caf\u00e9 \u6f22\u5b57 \U0001f600"


def plant_event(conn, slug: str, title: str) -> None:
    conn.execute(
        "INSERT INTO events (slug, title, location, capacity, starts_at, ends_at, status)"
        " VALUES (%s, %s, 'Lab', 40, '2099-01-01 10:00+00', '2099-01-01 11:00+00', 'published')",
        (slug, title),
    )


def raw_controls(shown: str) -> list[str]:
    """The unsafe characters in what a terminal got, besides its own line ends."""
    return text.UNSAFE.findall(shown.replace("\r", "").replace("\n", ""))


class Terminal:
    """`eventreg ARGS` with a real pseudo-terminal as its standard input, output and error, in
    a session of its own (so getpass reads this terminal, never the one running the tests)."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.master, replica = pty.openpty()
        environ = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        self.proc = subprocess.Popen([sys.executable, "-m", "eventreg", *args], stdin=replica, stdout=replica,
                                     stderr=replica, cwd=cwd, env=environ, start_new_session=True)  # fmt: skip
        os.close(replica)
        self.seen = b""

    def _read(self, until: float) -> bool:
        """Read what is there (waiting up to `until`); False at the end of the output."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            return True
        try:
            block = os.read(self.master, 4096)
        except OSError:  # EIO: the command has ended and closed the terminal
            return False
        self.seen += block
        return bool(block)

    def expect(self, needle: str, count: int = 1, timeout: float = 30) -> None:
        until = time.monotonic() + timeout
        while self.seen.count(needle.encode()) < count:
            assert time.monotonic() < until, f"never saw {needle!r}: {self.seen!r}"
            assert self._read(until), f"the command ended before {needle!r}: {self.seen!r}"

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        until = time.monotonic() + timeout
        while self._read(until):
            assert time.monotonic() < until, f"the command did not end: {self.seen!r}"
        code = self.proc.wait(timeout=timeout)
        os.close(self.master)
        return code, self.seen.decode("utf-8", errors="replace")


# -- prompts ----------------------------------------------------------------------------------------


def test_a_confirmation_shows_a_planted_title_escaped(cli: Cli, conn, tmp_path: Path):
    plant_event(conn, "nasty", NASTY)
    cli.as_role("admin")  # the token, in the environment the command inherits
    terminal = Terminal("event", "cancel", "nasty", cwd=tmp_path)
    terminal.expect("[y/N]")
    terminal.type("n")
    code, shown = terminal.finish()
    assert code == 1 and "nothing was changed" in shown, shown
    assert raw_controls(shown) == [], repr(shown)
    assert "Cancel Talk\\x1b[2J\\x1b]8;;https://evil.example\\x07link" in shown  # visible, not obeyed
    assert conn.execute("SELECT status FROM events WHERE slug = 'nasty'").fetchone()["status"] == "published"


def test_a_hidden_prompt_shows_a_planted_security_question_escaped(cli: Cli, conn, tmp_path: Path):
    conn.execute("UPDATE security_question_catalogue SET text = %s WHERE key = 1", (NASTY + " END?",))
    cli.as_role(None)
    terminal = Terminal("auth", "register", "--email", "ana@example.edu", "--name", "Ana", "--question", "1",
                        "--question", "2", cwd=tmp_path)  # fmt: skip
    terminal.expect("Password: ")
    terminal.type(PASSWORD)
    terminal.expect("Repeat the password: ")
    terminal.type(PASSWORD)
    terminal.expect("END?: ")  # the label of the first answer, all of it
    terminal.type("blue")
    terminal.expect("Answer to: ", count=2)
    terminal.type("rex")
    code, shown = terminal.finish()
    assert code == 0 and "Created the account ana@example.edu" in shown, shown
    assert raw_controls(shown) == [], repr(shown)
    assert "Answer to: Talk\\x1b[2J" in shown and PASSWORD not in shown and "blue" not in shown


# -- --json -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["event", "show", "nasty", "--json"],  # one value
        ["event", "list", "--json"],  # a page
        ["event", "list", "--all", "--json"],  # every page, streamed
        ["event", "list", "--limit", "1", "--json"],
    ],
    ids=["show", "page", "all", "limit"],
)
def test_json_escapes_every_control_and_parses_to_the_stored_text(cli: Cli, conn, args: list[str]):
    title = NASTY + KEPT
    plant_event(conn, "nasty", title)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert raw_controls(result.stdout) == [], repr(result.stdout)  # C1, DEL, bidi, tags: escaped too
    assert "\\u009b31m" in result.stdout and "\\u202e" in result.stdout and "\\udb40\\udc41" in result.stdout
    assert KEPT in result.stdout  # other non-ASCII stays readable
    parsed = json.loads(result.stdout)
    shown = parsed if isinstance(parsed, dict) else parsed[0]
    assert shown["title"] == title  # exactly the stored text


def test_json_to_a_file_is_escaped_the_same(cli: Cli, conn, tmp_path: Path):
    plant_event(conn, "nasty", NASTY + KEPT)
    target = tmp_path / "events.json"
    assert cli("event", "list", "--all", "--json", "-o", str(target)).exit_code == 0
    written = target.read_text(encoding="utf-8")
    assert raw_controls(written) == [] and json.loads(written)[0]["title"] == NASTY + KEPT
