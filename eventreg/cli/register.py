"""`eventreg register ...`: take a seat, give it up, list yours."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from eventreg.cli import lists, render
from eventreg.cli.context import Invocation
from eventreg.cli.options import DryRun, EventRef, ListOptions, Reason, Yes, command, group
from eventreg.errors import DomainError
from eventreg.views import Cancellation, MineQuery, MyRegistration

NAME = "register"
FOR = "for"


class RegisterGroup(TyperGroup):
    """`eventreg register EVENT` is short for `eventreg register for EVENT`. No slug can be
    the name of one of these commands (events/rules.py RESERVED_SLUGS), so it is never ambiguous."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return FOR, self.commands[FOR], args
        return super().resolve_command(ctx, args)


app = group("Register for an event (eventreg register EVENT); cancel; list yours.", cls=RegisterGroup)


@command(app, FOR)
def register_for(inv: Invocation, event: EventRef) -> None:
    """Register for an event; when it is full you join its waitlist.

    Example: eventreg register python-workshop
    """
    result = inv.api().register(event)
    if result.status == "registered":
        inv.out.message(f"Registered for {result.title}.")
    else:
        inv.out.message(f"{result.title} is full: you are number {result.position} on the waitlist.")


@command(app)
def cancel(
    inv: Invocation,
    event: EventRef,
    user: Annotated[str | None, typer.Option("--user", help="Organisers: cancel this person's place.")] = None,
    reason: Reason = None,
    yes: Yes = False,
    dry_run: DryRun = False,
) -> None:
    """Give up your seat or waitlist place; a freed seat goes to the next person waiting.

    Example: eventreg register cancel python-workshop
    """
    api = inv.api()
    if user is not None and not dry_run:  # someone else's place: say what happens, then ask
        plan = api.cancel_registration(event, user, reason, dry_run=True)
        _say(inv, plan, own=False, would=True)
        if not inv.prompt.confirm(f"Cancel the place of {plan.email}?", yes):
            raise DomainError("nothing was changed")
    done = api.cancel_registration(event, user, reason, dry_run=dry_run)
    _say(inv, done, own=user is None, would=dry_run)
    if dry_run:
        inv.out.message("Dry run: nothing was changed.")


def _say(inv: Invocation, done: Cancellation, own: bool, would: bool) -> None:
    what = "registration" if done.was == "registered" else "waitlist place"
    whose = "your" if own else f"{done.email}'s"
    verb = "Would cancel" if would else "Cancelled"
    inv.out.message(f"{verb} {whose} {what} for {done.title}.")
    for person in done.promoted:
        inv.out.message(f"{person.email} {'would get' if would else 'got'} the seat from the waitlist.")


@command(app, "list", listing=True)
def list_mine(
    inv: Invocation,
    out: ListOptions,
    past: Annotated[bool, typer.Option("--past", help="Include past events.")] = False,
) -> None:
    """Your registrations and waitlist places, with positions.

    Example: eventreg register list --json
    """
    query = MineQuery(past)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_mine(query, after, limit),
        lambda: api.export(query),
        MyRegistration,
        render.MY_REGISTRATIONS,
        title="Your registrations",
        empty="You have no registrations.",
    )
