"""`eventreg register ...`: take a seat, cancel it, list your registrations."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from eventreg import output
from eventreg.access import STUDENT, declare, signed_in
from eventreg.options import EventRef

REGISTER_FOR = "for"


class RegisterGroup(TyperGroup):
    """`eventreg register EVENT` is short for `eventreg register for EVENT`."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return REGISTER_FOR, self.commands[REGISTER_FOR], args
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=RegisterGroup,
    help="Register for an event: [bold]eventreg register EVENT[/bold]; cancel; list yours.",
    no_args_is_help=True,
)


@app.command(REGISTER_FOR)
@declare(STUDENT)
def register_for(event: EventRef) -> None:
    """Register for an event; when it is full you join its waitlist.

    Example: [bold]eventreg register python-workshop[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        result = service.register(conn, actor, event)
    title = result["event"]["title"]
    if result["status"] == "registered":
        output.message(f"Registered for {title}")
    else:
        output.message(f"Event is full: you are number {result['position']} on the waitlist")


@app.command()
@declare(STUDENT)
def cancel(
    event: EventRef,
    user: Annotated[str | None, typer.Option("--user", help="Staff: cancel this person's registration.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; kept in the history.")] = None,
) -> None:
    """Cancel your registration or waitlist place; the seat goes to the next person waiting.

    Example: [bold]eventreg register cancel python-workshop[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        was = service.cancel(conn, actor, event, user, reason)
    what = "registration" if was == "registered" else "waitlist place"
    output.message(f"Cancelled the {what}.")


MINE_KEYS = ["slug", "title", "status", "position", "starts_at", "registered_at", "checked_in_at"]


@app.command("list")
@declare(STUDENT)
def list_mine(
    past: Annotated[bool, typer.Option("--past", help="Include past events.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Your registrations and waitlist places, with positions.

    Example: [bold]eventreg register list --json[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        rows = service.mine(conn, actor, past)
    if as_json:
        output.emit_json([{k: r[k] for k in MINE_KEYS} for r in rows])
        return
    output.table(
        rows,
        [
            ("slug", "Event"),
            ("title", "Title"),
            ("starts_at", "Starts"),
            ("status", "Status"),
            ("position", "Waitlist position"),
        ],
        title="Your registrations",
        empty="You have no registrations.",
    )
