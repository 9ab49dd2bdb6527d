"""`eventreg admin ...`: admin accounts and the first admin."""

from __future__ import annotations

from typing import Annotated

import typer

from eventreg import context, output, prompts
from eventreg.access import PUBLIC, declare

app = typer.Typer(help="Administration: admin accounts, users, registrations, capacities.", no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


@app.command()
@declare(PUBLIC)
def bootstrap(
    email: Annotated[str, typer.Option("--email", help="The first admin's email.")],
    name: Annotated[str, typer.Option("--name", help="The first admin's name.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create the first admin account; works only while no admin exists.

    Example: [bold]eventreg admin bootstrap --email it@uni.edu --name "IT Office"[/bold]
    """
    from eventreg.auth import service

    password = prompts.secret("password", password_stdin, confirm=True)
    with context.connection() as conn:
        user = service.bootstrap_admin(conn, context.settings(), email, name, password)
    output.message(
        f"Created the first admin, {user['email']}. Log in with: eventreg auth login --email {user['email']}"
    )
