"""`eventreg user ...`: the logged-in user's own profile."""

from __future__ import annotations

from typing import Annotated

import typer

from eventreg import context, output, prompts
from eventreg.access import STUDENT, declare, signed_in

app = typer.Typer(help="Your profile and security questions.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
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
