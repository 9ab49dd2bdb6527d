"""`eventreg user ...`: your profile; admins import users."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from eventreg.cli.auth import QuestionKeys, ask_answers
from eventreg.cli.context import Invocation
from eventreg.cli.options import Json, PasswordStdin, command, group
from eventreg.errors import InvalidInput

NAME = "user"
app = group("Your profile and security questions; admins import users.")


@command(app)
def show(inv: Invocation, as_json: Json = False) -> None:
    """Show your profile.

    Example: eventreg user show --json
    """
    me = inv.api().profile()
    if as_json:
        inv.out.json(me)
        return
    inv.out.details(
        [
            ("Name", me.name),
            ("Email", me.email),
            ("Role", me.role),
            ("Member since", me.created_at),
            ("Security questions", "; ".join(me.security_questions) or "none set"),
        ],
        title="Profile",
    )


@command(app)
def update(
    inv: Invocation,
    name: Annotated[str | None, typer.Option("--name", help="Your new name.")] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="Your new email (asks for your password; other sessions end).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Change your name or email address.

    Example: eventreg user update --name "Ana María Ruiz"
    """
    if name is None and email is None:
        raise InvalidInput("nothing to change: give --name or --email")
    api = inv.api()
    if email is not None:
        current = inv.prompt.secret("current password", password_stdin)
        changed = api.change_email(current, email)
        inv.out.message(f"Email changed to {changed.user.email}; {changed.revoked_sessions} other session(s) ended.")
    if name is not None:
        renamed = api.rename(name)
        inv.out.message(f"Name changed to {renamed.name}.")


@command(app, "security-questions")
def security_questions(inv: Invocation, question: QuestionKeys = None, password_stdin: PasswordStdin = False) -> None:
    """Choose new security questions and answers (asks for your password; other sessions end).

    With --password-stdin: the current password, then the answer to each --question, a line each.

    Example: eventreg user security-questions --question 3 --question 7
    """
    current = inv.prompt.secret("current password", password_stdin)
    answers = ask_answers(inv, question, password_stdin)
    ended = inv.api().set_questions(current, answers)
    inv.out.message(f"Saved your security questions; {ended} other session(s) ended.")


MAX_IMPORT_BYTES = 512 * 1024 * 1024


def _lines(path: Path) -> Iterator[str]:
    """The file a line at a time (never read whole), as UTF-8; `-` is standard input."""
    raw = sys.stdin.buffer if str(path) == "-" else None
    try:
        handle = raw or path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    size = 0
    with handle:
        for number, line in enumerate(handle, 1):
            size += len(line)
            if size > MAX_IMPORT_BYTES:
                raise InvalidInput(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MiB")
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{path}, line {number}: not UTF-8 text") from None


@command(app, "import")
def import_users(
    inv: Invocation, file: Annotated[Path, typer.Argument(help="CSV with a header: email,name[,role]; - for stdin.")]
) -> None:
    """Create many accounts from a CSV file, every row or none (admins).

    Imported users have no password: give each a code with `eventreg admin users reset-code USER`.

    Example: eventreg user import students.csv
    """
    report = inv.api().import_users(_lines(file))
    for skip in report.skipped_lines:
        inv.out.message(f"line {skip.line}: skipped {skip.email}: {skip.reason}")
    if report.skipped > len(report.skipped_lines):
        inv.out.message(f"... and {report.skipped - len(report.skipped_lines)} more skipped")
    inv.out.message(f"Imported {report.created} user(s); skipped {report.skipped}.")
