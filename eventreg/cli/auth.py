"""`eventreg auth ...`: sign up, log in and out, sessions, passwords and resets."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from eventreg.cli.context import Invocation
from eventreg.cli.credentials import server_key
from eventreg.cli.options import Json, PasswordStdin, command, group
from eventreg.cli.output import Column
from eventreg.errors import InvalidInput
from eventreg.timeparse import local
from eventreg.views import Question

NAME = "auth"
app = group("Sign up, log in and out, passwords, sessions and resets.")

QuestionKeys = Annotated[
    list[int] | None,
    typer.Option("--question", help="A question of the catalogue by number (twice; see: eventreg auth questions)."),
]
QUESTION_COLUMNS = [Column("key", "#"), Column("text", "Question")]


def ask_answers(inv: Invocation, keys: list[int] | None, from_stdin: bool) -> list[tuple[int, str]]:
    """Two (question number, answer) pairs: numbers from --question or asked; answers from
    hidden prompts, or from standard input in the order of the questions."""
    catalogue = {q.key: q.text for q in inv.api().questions()}
    chosen = list(keys or [])
    if not chosen:
        if from_stdin or not inv.prompt.can_ask:
            raise InvalidInput("give --question twice (see: eventreg auth questions)")
        for question in catalogue.items():
            inv.out.message(f"  {question[0]:>2}. {question[1]}")
        chosen = [_number(inv.prompt.text(f"question number {n}", "--question")) for n in (1, 2)]
    pairs = []
    for key in chosen:
        label = f"answer to: {catalogue.get(key, f'question {key}')}"
        pairs.append((key, inv.prompt.secret(label, from_stdin)))
    return pairs


def _number(value: str) -> int:
    if not value.strip().isdigit():
        raise InvalidInput("a question is chosen by its number")
    return int(value)


@command(app)
def questions(inv: Invocation, as_json: Json = False) -> None:
    """The published catalogue of security questions everyone chooses two from.

    Example: eventreg auth questions
    """
    found = inv.api().questions()
    if as_json:
        inv.out.json(found)
        return
    inv.out.rows(found, QUESTION_COLUMNS, Question, title="Security questions")


@command(app)
def register(
    inv: Invocation,
    email: Annotated[str, typer.Option("--email", help="Your email address.")],
    name: Annotated[str, typer.Option("--name", help="Your full name.")],
    question: QuestionKeys = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a student account with a password and two security questions.

    With --password-stdin, standard input holds the password, then the answer to each
    --question, a line each.

    Example: eventreg auth register --email ana@uni.edu --name "Ana Ruiz" --question 1 --question 4
    """
    password = inv.prompt.secret("password", password_stdin, confirm=True)
    answers = ask_answers(inv, question, password_stdin)
    user = inv.api().sign_up(email, name, password, answers)
    inv.out.message(
        f"Created the account {user.email} (student). Log in with: eventreg auth login --email {user.email}"
    )


@command(app)
def login(
    inv: Invocation,
    email: Annotated[str, typer.Option("--email", help="Your email address.")],
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Log in to this eventreg server (https://host[:port]); later commands talk to it.",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow http:// to another machine (the token travels in clear)."),
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Log in; the session token goes to the OS keyring (or a private file, and it says so).
    Logging in as someone else ends the session it replaces. With --server, log in to an
    eventreg server and keep talking to it (`auth logout` keeps it; EVENTREG_SERVER wins).

    Example: eventreg auth login --email ana@uni.edu --server https://reg.uni.edu
    """
    if insecure and server is None:
        raise InvalidInput("--insecure goes with --server")
    origin = inv.use_server(server, insecure) if server is not None else inv.server()
    password = inv.prompt.secret(f"password for {origin}" if origin else "password", password_stdin)
    login = inv.api().login(email, password)
    credentials = inv.credentials()
    where = credentials.save(login.token)
    if where.startswith("file "):
        why = credentials.problem or "no usable OS keyring"
        inv.out.message(f"Note: {why}; the token is kept in {where[5:]} (mode 0600).")
    if server is not None:
        inv.remember_server()
        configured = inv.settings.server
        if configured and server_key(configured) != server_key(str(origin)):
            inv.out.message("Note: EVENTREG_SERVER is set to another server; later commands talk to that one.")
    on = f" on {origin}" if origin else ""
    inv.out.message(f"Logged in as {login.user.email} ({login.user.role}){on} until {local(login.expires_at)}.")


@command(app)
def logout(
    inv: Invocation,
    everywhere: Annotated[bool, typer.Option("--all", help="End every session of yours, on every machine.")] = False,
    forget_server: Annotated[
        bool,
        typer.Option(
            "--forget-server",
            help="Also stop using the server `auth login --server` remembered; later commands use the database.",
        ),
    ] = False,
) -> None:
    """End this session (or all of yours) and forget its token.

    Example: eventreg auth logout --all
    """
    ended = inv.api().logout(everywhere)
    warning = inv.credentials().delete()
    if warning:
        inv.out.message(f"Note: {warning}.")
    inv.out.message(f"Logged out; ended {ended} session{'s' if ended != 1 else ''}." if everywhere else "Logged out.")
    if forget_server:
        origin = inv.server()
        if inv.forget_server():
            inv.out.message(f"Forgot the server {origin}; commands use the database again.")


def _status(inv: Invocation, as_json: bool) -> None:
    info = inv.api().session()
    stored = inv.credentials().load()
    info = replace(info, token_storage=stored.source if stored else None)
    if as_json:
        inv.out.json(info)
        return
    where = ("Server", info.server) if info.server else ("Database", inv.describe_database())
    inv.out.details(
        [
            ("User", f"{info.name} <{info.email}>"),
            ("Role", info.role),
            ("Expires", info.expires_at),
            ("Token kept in", info.token_storage),
            where,
        ],
        title="Session",
    )


@command(app)
def status(inv: Invocation, as_json: Json = False) -> None:
    """Who you are, your role, when the session ends and where its token is kept.

    Example: eventreg auth status --json
    """
    _status(inv, as_json)


@command(app)
def whoami(inv: Invocation, as_json: Json = False) -> None:
    """The same as `auth status`.

    Example: eventreg auth whoami
    """
    _status(inv, as_json)


@command(app)
def password(inv: Invocation, password_stdin: PasswordStdin = False) -> None:
    """Change your password; every other session of yours ends.

    With --password-stdin: the current password, then the new one, a line each.

    Example: eventreg auth password
    """
    current = inv.prompt.secret("current password", password_stdin)
    new = inv.prompt.secret("new password", password_stdin, confirm=True)
    ended = inv.api().change_password(current, new)
    inv.out.message(f"Password changed; {ended} other session{'s' if ended != 1 else ''} ended.")


@command(app, "reset-password")
def reset_password(
    inv: Invocation,
    email: Annotated[str, typer.Option("--email", help="The account's email address.")],
    code: Annotated[bool, typer.Option("--code", help="Use a one-time code from an admin instead.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password with your two security questions, or with a one-time code from an
    admin (--code; imported users start this way). Every session of the account ends.

    With --password-stdin: the two answers (or the code), then the new password, a line each.

    Example: eventreg auth reset-password --email ana@uni.edu
    """
    api = inv.api()
    if code:
        secret_code = inv.prompt.secret("reset code", password_stdin)
        new = inv.prompt.secret("new password", password_stdin, confirm=True)
        api.reset_with_code(email, secret_code, new)
    else:
        asked = api.reset_questions(email)
        for number, question in enumerate(asked, 1):
            inv.out.message(f"Question {number}: {question.text}")
        answers = [inv.prompt.secret(f"answer {n}", password_stdin) for n in range(1, len(asked) + 1)]
        new = inv.prompt.secret("new password", password_stdin, confirm=True)
        api.reset_with_answers(email, answers, new)
    inv.out.message(
        f"Password set; every session of the account ended. Log in with: eventreg auth login --email {email}"
    )
