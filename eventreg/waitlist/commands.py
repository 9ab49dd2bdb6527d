"""`eventreg waitlist ...`: leave a waitlist; staff list, promote, move, remove."""

from __future__ import annotations

from typing import Annotated

import typer

from eventreg import output
from eventreg.access import STAFF, STUDENT, declare, signed_in
from eventreg.options import EventRef, Reason, UserRef

app = typer.Typer(help="Waitlists: leave one; staff list, promote, move and remove people.", no_args_is_help=True)

WAITLIST_KEYS = ["position", "user_id", "email", "name", "joined_at"]


@app.command()
@declare(STUDENT)
def leave(event: EventRef) -> None:
    """Leave an event's waitlist.

    Example: [bold]eventreg waitlist leave python-workshop[/bold]
    """
    from eventreg.waitlist import service

    with signed_in() as (conn, actor):
        service.leave(conn, actor, event)
    output.message("You left the waitlist.")


@app.command("list")
@declare(STAFF)
def list_waitlist(
    event: EventRef, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """The waitlist of an event, in promotion order.

    Example: [bold]eventreg waitlist list python-workshop[/bold]
    """
    from eventreg.waitlist import service

    with signed_in() as (conn, actor):
        found, rows = service.listing(conn, actor, event)
    if as_json:
        output.emit_json([{k: r[k] for k in WAITLIST_KEYS} for r in rows])
        return
    output.table(
        rows,
        [("position", "#"), ("name", "Name"), ("email", "Email"), ("joined_at", "Joined")],
        title=f"Waitlist of {found['title']}",
        empty="Nobody is waiting.",
    )


@app.command()
@declare(STAFF)
def promote(
    event: EventRef,
    user: UserRef,
    over_capacity: Annotated[
        bool, typer.Option("--over-capacity", help="Add a seat when none is free (recorded).")
    ] = False,
    reason: Reason = None,
) -> None:
    """Give a chosen person on the waitlist a seat.

    Example: [bold]eventreg waitlist promote python-workshop carol@example.edu --over-capacity[/bold]
    """
    from eventreg.waitlist import service

    with signed_in() as (conn, actor):
        promoted = service.promote(conn, actor, event, user, over_capacity, reason)
    output.message(f"Promoted {promoted['email']}.")


@app.command()
@declare(STAFF)
def move(
    event: EventRef,
    user: UserRef,
    to: Annotated[int, typer.Option("--to", help="New position; 1 is next in line.")],
    reason: Reason = None,
) -> None:
    """Move a person to another place on the waitlist.

    Example: [bold]eventreg waitlist move python-workshop carol@example.edu --to 1[/bold]
    """
    from eventreg.waitlist import service

    with signed_in() as (conn, actor):
        position = service.move(conn, actor, event, user, to, reason)
    output.message(f"Moved {user} to position {position}.")


@app.command()
@declare(STAFF)
def remove(event: EventRef, user: UserRef, reason: Reason = None) -> None:
    """Take a person off the waitlist.

    Example: [bold]eventreg waitlist remove python-workshop carol@example.edu[/bold]
    """
    from eventreg.waitlist import service

    with signed_in() as (conn, actor):
        removed = service.remove(conn, actor, event, user, reason)
    output.message(f"Removed {removed['email']} from the waitlist.")
