"""`eventreg auth ...`: sign-up, sign-in, sessions and passwords."""

from __future__ import annotations

from typing import Annotated

import typer

from eventreg import context, output, prompts
from eventreg.access import PUBLIC, STUDENT, declare, signed_in
from eventreg.options import Json, PasswordStdin

app = typer.Typer(help="Sign up, log in and out, passwords and sessions.", no_args_is_help=True)


@app.command()
@declare(PUBLIC)
def register(
    email: Annotated[str, typer.Option("--email", help="Your email address.")],
    name: Annotated[str, typer.Option("--name", help="Your full name.")],
    question: Annotated[
        list[str] | None, typer.Option("--question", help="A security question (at least two).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a student account with a password and security questions.

    With --password-stdin, standard input holds the password, then one answer a line
    for each --question.

    Example: [bold]eventreg auth register --email ana@uni.edu --name "Ana Ruiz"[/bold]
    """
    from eventreg.auth import service

    password = prompts.secret("password", password_stdin, confirm=True)
    pairs = prompts.questions_and_answers(question or [], password_stdin)
    with context.connection() as conn:
        user = service.sign_up(conn, context.settings(), email, name, password, pairs)
    output.message(
        f"Created account {user['email']} (student). Log in with: eventreg auth login --email {user['email']}"
    )


@app.command()
@declare(PUBLIC)
def login(
    email: Annotated[str, typer.Option("--email", help="Your email address.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Log in and keep the session token in the OS keyring (or a 0600 file).

    Example: [bold]eventreg auth login --email ana@uni.edu[/bold]
    """
    from eventreg.auth import service, token_store

    password = prompts.secret("password", password_stdin)
    settings = context.settings()
    url = context.database_url()
    with context.connection() as conn:
        token, user = service.login(conn, settings, email, password)
    where = token_store.save(settings, url, token)
    if where.startswith("file"):
        output.message(f"Warning: no usable OS keyring; the token is stored in plain text in {where[5:]} (mode 0600).")
    output.message(f"Logged in as {user['email']} ({user['role']}) until {output.local_time(user['expires_at'])}.")


@app.command()
@declare(STUDENT)
def logout() -> None:
    """Revoke this session and forget its token.

    Example: [bold]eventreg auth logout[/bold]
    """
    from eventreg.auth import service, token_store

    with signed_in() as (conn, actor):
        service.logout(conn, actor)
    token_store.delete(context.settings(), context.database_url())
    output.message("Logged out.")


@app.command()
@declare(STUDENT)
def status(as_json: Json = False) -> None:
    """Who you are, your role, when the session expires and where the token is kept.

    Example: [bold]eventreg auth status --json[/bold]
    """
    from eventreg.auth import service, token_store

    settings = context.settings()
    stored = token_store.load(settings, context.database_url())
    with signed_in() as (conn, _actor):
        info = service.session_info(conn, settings, stored.value if stored else "")
    info["token_storage"] = stored.source if stored else None
    if as_json:
        output.emit_json(info)
        return
    output.details(
        [
            ("User", f"{info['name']} <{info['email']}>"),
            ("Role", info["role"]),
            ("Expires", info["expires_at"]),
            ("Token stored in", info["token_storage"]),
        ],
        title="Session",
    )


app.command("whoami", help="Same as `auth status`.\n\nExample: [bold]eventreg auth whoami[/bold]")(status)


@app.command()
@declare(STUDENT)
def password(password_stdin: PasswordStdin = False) -> None:
    """Change your password; every other session of yours is logged out.

    With --password-stdin: the current password, then the new one, a line each.

    Example: [bold]eventreg auth password[/bold]
    """
    from eventreg.auth import service

    with signed_in() as (conn, actor):
        old = prompts.secret("current password", password_stdin)
        new = prompts.secret("new password", password_stdin, confirm=True)
        revoked = service.change_password(conn, context.settings(), actor, old, new)
    output.message(f"Password changed; {revoked} other session(s) logged out.")


@app.command("reset-password")
@declare(PUBLIC)
def reset_password(
    email: Annotated[str, typer.Option("--email", help="The account's email address.")],
    code: Annotated[
        bool, typer.Option("--code", help="Use a one-time reset code from an admin instead of questions.")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Reset a forgotten password with the account's security questions, or with a
    one-time code from an admin (--code; imported users start this way).

    With --password-stdin: the answers (or the code), one a line, then the new password.

    Example: [bold]eventreg auth reset-password --email ana@uni.edu[/bold]
    """
    from eventreg.auth import service

    settings = context.settings()
    if code:
        secret_code = prompts.secret("reset code", password_stdin)
        new = prompts.secret("new password", password_stdin, confirm=True)
        with context.connection() as conn:
            service.reset_with_code(conn, settings, email, secret_code, new)
        output.message("Password set; log in with: eventreg auth login --email " + email.strip())
        return
    with context.connection() as conn:
        questions = service.reset_questions(conn, settings, email)
        for number, question in enumerate(questions, 1):
            output.message(f"Question {number}: {question}")
        answers = [prompts.secret(f"answer {n}", password_stdin) for n in range(1, len(questions) + 1)]
        new = prompts.secret("new password", password_stdin, confirm=True)
        service.reset_password(conn, settings, email, answers, new)
    output.message("Password reset; every session of this account was logged out. Log in again.")
