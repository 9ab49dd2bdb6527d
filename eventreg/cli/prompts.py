"""Asking the person at the terminal: secrets, values, confirmations. One decision: can we ask?

We ask only when standard input is a terminal. Otherwise a secret must come from
standard input (`--password-stdin`), a value from its option, and a confirmation
from `--yes`, and the error says which. Secrets are never flag values, so they
stay out of shell history and `ps`. What comes on standard input is capped and
must be UTF-8.

Every label and question is shown through `text.for_terminal`, here, because many
hold text from elsewhere (a security question, an event's title, a server's message):
a control or bidi character in them becomes a visible escape, whoever the caller is.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from eventreg.errors import InvalidInput
from eventreg.text import for_terminal

MAX_STDIN_LINE = 4096


def _shown(label: str) -> str:
    """A label as the terminal gets it: escaped, then capitalised."""
    safe = for_terminal(label)
    return f"{safe[:1].upper()}{safe[1:]}"


class Prompter:
    def __init__(self, stdin: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stderr = stderr or sys.stderr

    @property
    def can_ask(self) -> bool:
        try:
            return bool(self.stdin.isatty())
        except (AttributeError, ValueError):
            return False

    def line(self, what: str) -> str:
        """One line of standard input (a secret passed with --password-stdin)."""
        source = getattr(self.stdin, "buffer", None)
        raw = source.readline(MAX_STDIN_LINE + 1) if source is not None else self.stdin.readline(MAX_STDIN_LINE + 1)
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"the {what} on standard input is not UTF-8 text") from None
        if len(raw) > MAX_STDIN_LINE:
            raise InvalidInput(f"the {what} on standard input is longer than {MAX_STDIN_LINE} bytes")
        if not raw:
            raise InvalidInput(f"expected the {what} on standard input")
        return raw.rstrip("\r\n")

    def secret(self, label: str, from_stdin: bool, confirm: bool = False) -> str:
        if from_stdin:
            return self.line(label)
        if not self.can_ask:
            raise InvalidInput(f"no terminal to ask for the {label}: pass --password-stdin")
        first = getpass.getpass(f"{_shown(label)}: ", stream=self.stderr)
        if confirm and getpass.getpass(f"Repeat the {for_terminal(label)}: ", stream=self.stderr) != first:
            raise InvalidInput(f"the two {label}s differ")
        return first

    def text(self, label: str, option: str) -> str:
        if not self.can_ask:
            raise InvalidInput(f"missing option {option}")
        self.stderr.write(f"{_shown(label)}: ")
        self.stderr.flush()
        return self.line(label)

    def confirm(self, question: str, yes: bool, flag: str = "--yes") -> bool:
        """True when --yes was given or the person said yes; without a terminal, --yes is required."""
        if yes:
            return True
        if not self.can_ask:
            raise InvalidInput(f"this changes data or affects others: pass {flag} to do it without a terminal")
        self.stderr.write(f"{for_terminal(question)} [y/N] ")
        self.stderr.flush()
        answer = self.stdin.readline(64)
        return answer.strip().lower() in ("y", "yes")
