"""Options and arguments shared by the command modules, so every command spells them alike."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys, see the README).")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read secrets from standard input, one a line.")]
EventRef = Annotated[str, typer.Argument(help="The event's slug or id.")]
UserRef = Annotated[str, typer.Argument(help="The user's email or id.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why; kept in the history.")]
