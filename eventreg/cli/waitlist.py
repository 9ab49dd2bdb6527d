"""`eventreg waitlist ...`: leave a waitlist; organisers list, promote, move and remove people."""

from __future__ import annotations

from typing import Annotated

import typer

from eventreg.cli import lists, render
from eventreg.cli.context import Invocation
from eventreg.cli.options import DryRun, EventRef, ListOptions, Reason, UserRef, Yes, command, group
from eventreg.errors import DomainError
from eventreg.views import WaitlistEntry, WaitlistQuery

NAME = "waitlist"
app = group("Waitlists: leave one; organisers list, promote, move and remove people.")


@command(app)
def leave(inv: Invocation, event: EventRef) -> None:
    """Leave an event's waitlist.

    Example: eventreg waitlist leave python-workshop
    """
    done = inv.api().leave_waitlist(event)
    inv.out.message(f"You left the waitlist of {done.title} (you were number {done.position}).")


@command(app, "list", listing=True)
def list_waitlist(inv: Invocation, out: ListOptions, event: EventRef) -> None:
    """An event's waitlist in promotion order (its organisers and admins).

    Example: eventreg waitlist list python-workshop --all --csv -o waiting.csv
    """
    query = WaitlistQuery(event)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_waitlist(query, after, limit),
        lambda: api.export(query),
        WaitlistEntry,
        render.WAITLIST,
        title="Waitlist",
        empty="Nobody is waiting.",
    )


@command(app)
def promote(
    inv: Invocation,
    event: EventRef,
    user: UserRef,
    over_capacity: Annotated[
        bool, typer.Option("--over-capacity", help="Add a seat when none is free (recorded).")
    ] = False,
    reason: Reason = None,
    dry_run: DryRun = False,
) -> None:
    """Give a chosen person on the waitlist a seat.

    Example: eventreg waitlist promote python-workshop carol@example.edu --over-capacity
    """
    done = inv.api().promote(event, user, over_capacity, reason, dry_run=dry_run)
    extra = " (one seat added)" if done.over_capacity else ""
    inv.out.message(f"{'Would promote' if dry_run else 'Promoted'} {done.email} at {done.title}{extra}.")


@command(app)
def move(
    inv: Invocation,
    event: EventRef,
    user: UserRef,
    to: Annotated[int, typer.Option("--to", help="The new position; 1 is next in line.")],
    reason: Reason = None,
) -> None:
    """Move a person to another place on the waitlist.

    Example: eventreg waitlist move python-workshop carol@example.edu --to 1
    """
    done = inv.api().move(event, user, to, reason)
    inv.out.message(f"Moved {done.email} to number {done.position} on the waitlist of {done.title}.")


@command(app)
def remove(
    inv: Invocation, event: EventRef, user: UserRef, reason: Reason = None, yes: Yes = False, dry_run: DryRun = False
) -> None:
    """Take a person off the waitlist (asks first).

    Example: eventreg waitlist remove python-workshop carol@example.edu --yes
    """
    api = inv.api()
    plan = api.remove_from_waitlist(event, user, reason, dry_run=True)
    inv.out.message(f"{plan.email} is number {plan.position} on the waitlist of {plan.title}.")
    if dry_run:
        inv.out.message("Dry run: nothing was changed.")
        return
    if not inv.prompt.confirm(f"Remove {plan.email} from the waitlist?", yes):
        raise DomainError("nothing was changed")
    done = api.remove_from_waitlist(event, user, reason)
    inv.out.message(f"Removed {done.email} from the waitlist of {done.title}.")
