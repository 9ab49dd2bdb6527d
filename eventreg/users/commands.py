"""`eventreg user ...`: the logged-in user's own profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eventreg import context, output, prompts
from eventreg.access import ADMIN, STUDENT, declare, signed_in
from eventreg.errors import InvalidInput
from eventreg.options import Json

app = typer.Typer(help="Your profile and security questions.", no_args_is_help=True)

USER_KEYS = ("id", "email", "name", "role", "is_active", "created_at", "updated_at")


def user_json(user: dict) -> dict:  # type: ignore[type-arg]
    """The stable JSON shape of a user (documented in the README)."""
    return {key: user.get(key) for key in USER_KEYS}


@app.command()
@declare(STUDENT)
def show(as_json: Json = False) -> None:
    """Show your profile.

    Example: [bold]eventreg user show --json[/bold]
    """
    from eventreg.users import service

    with signed_in() as (conn, actor):
        user = service.profile(conn, actor.id)
    if as_json:
        output.emit_json({**user_json(user), "security_questions": user["security_questions"]})
        return
    output.details(
        [
            ("Name", user["name"]),
            ("Email", user["email"]),
            ("Role", user["role"]),
            ("Member since", user["created_at"]),
            ("Security questions", "; ".join(user["security_questions"]) or "none set"),
        ],
        title="Profile",
    )


@app.command()
@declare(STUDENT)
def update(name: Annotated[str, typer.Option("--name", help="Your new name.")]) -> None:
    """Change your name.

    Example: [bold]eventreg user update --name "Ana María Ruiz"[/bold]
    """
    from eventreg.users import service

    with signed_in() as (conn, actor):
        user = service.rename(conn, actor.id, name)
    output.message(f"Name changed to {user['name']}.")


@app.command("security-questions")
@declare(STUDENT)
def security_questions(
    question: Annotated[
        list[str] | None, typer.Option("--question", help="A security question (at least two).")
    ] = None,
    answers_stdin: Annotated[
        bool, typer.Option("--answers-stdin", help="Read the answers from standard input, one a line.")
    ] = False,
) -> None:
    """Replace your security questions and answers.

    Example: [bold]eventreg user security-questions --question "First school?" --question "Best friend?"[/bold]
    """
    from eventreg.users import service

    pairs = prompts.questions_and_answers(question or [], answers_stdin)
    hashed = service.clean_questions(pairs, context.settings().bcrypt_rounds)
    with signed_in() as (conn, actor):
        service.set_questions(conn, actor.id, hashed)
    output.message(f"Saved {len(hashed)} security questions.")


@app.command("import")
@declare(ADMIN)
def import_users(file: Annotated[Path, typer.Argument(help="CSV with a header: email,name[,role].")]) -> None:
    """Create many accounts from a CSV file, all or none (admin).

    Imported users have no password: issue each a code with
    `eventreg admin users reset-code USER`.

    Example: [bold]eventreg user import students.csv[/bold]
    """
    from eventreg.admin import importer

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from None
    with signed_in() as (conn, actor), output.progress("Importing users", None) as advance:
        try:
            report = importer.import_users(conn, actor, text, advance)
        except importer.ImportRefused as refused:
            for line, reason in refused.report.bad:
                output.message(f"line {line}: {reason}")
            raise
    for line, email, reason in report.skipped:
        output.message(f"line {line}: skipped {email}: {reason}")
    output.message(f"Imported {len(report.created)} user(s); skipped {len(report.skipped)}.")
