"""`eventreg event ...`: everyone lists and shows events; organisers create and run them."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from eventreg.cli import lists, render
from eventreg.cli.context import Invocation
from eventreg.cli.options import DryRun, EventRef, Json, ListOptions, Reason, UserRef, Yes, command, group
from eventreg.errors import DomainError, InvalidInput
from eventreg.timeparse import local, utc_offset_minutes
from eventreg.views import (
    AttendanceQuery,
    Attendee,
    Event,
    EventChanges,
    EventDraft,
    EventsQuery,
    HistoryEntry,
    HistoryQuery,
    Organiser,
)

NAME = "event"
app = group("List and show events; organisers create, change and run them.")
organisers_app = group("Who manages an event: its organisers.")
app.add_typer(organisers_app, name="organisers")

AllowPast = Annotated[bool, typer.Option("--allow-past", help="Allow an event that starts in the past.")]


def _ask_past(inv: Invocation, error: DomainError, allow_past: bool) -> bool:
    """A refusal for a past start: ask in a terminal (a no changes nothing), else tell the
    user about --allow-past (False: the caller raises the refusal)."""
    if allow_past or "starts in the past" not in error.message or not inv.prompt.can_ask:
        return False
    what = error.message.rsplit(": confirm", 1)[0]  # the time in it has colons of its own
    if not inv.prompt.confirm(f"{what}. Go ahead?", yes=False):
        raise DomainError("nothing was changed")
    return True


@command(app)
def create(
    inv: Invocation,
    title: Annotated[str | None, typer.Option("--title", help="The event's title.")] = None,
    capacity: Annotated[int | None, typer.Option("--capacity", help="How many seats.")] = None,
    starts_at: Annotated[str | None, typer.Option("--starts-at", help="ISO 8601; local time if no zone.")] = None,
    ends_at: Annotated[
        str | None, typer.Option("--ends-at", help="ISO 8601 (default: an hour after the start).")
    ] = None,
    slug: Annotated[str | None, typer.Option("--slug", help="Short name (default: made from the title).")] = None,
    location: Annotated[str, typer.Option("--location", help="Where.")] = "",
    description: Annotated[str, typer.Option("--description", help="What it is about.")] = "",
    registration_opens: Annotated[str | None, typer.Option("--registration-opens", help="ISO 8601.")] = None,
    registration_closes: Annotated[str | None, typer.Option("--registration-closes", help="ISO 8601.")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish at once (default: a draft).")] = False,
    allow_past: AllowPast = False,
    as_json: Json = False,
) -> None:
    """Create an event (a draft unless --publish); you become its organiser.
    Asks for missing values at a terminal.

    Example: eventreg event create --title "Python Workshop" --capacity 40 --starts-at 2030-03-04T14:00 --publish
    """
    draft = EventDraft(
        title=title if title is not None else inv.prompt.text("title", "--title"),
        capacity=capacity if capacity is not None else _int(inv.prompt.text("capacity", "--capacity"), "--capacity"),
        starts_at=starts_at or inv.prompt.text("start (ISO 8601, e.g. 2030-03-04T14:00)", "--starts-at"),
        ends_at=ends_at,
        slug=slug,
        location=location,
        description=description,
        registration_opens=registration_opens,
        registration_closes=registration_closes,
        publish=publish,
        allow_past=allow_past,
    )
    api = inv.api()
    try:
        event = api.create_event(draft)
    except DomainError as refused:
        if not _ask_past(inv, refused, allow_past):
            raise
        event = api.create_event(EventDraft(**{**vars(draft), "allow_past": True}))
    if as_json:
        inv.out.json(event)
        return
    state = "Published" if event.status == "published" else "Created the draft"
    inv.out.message(f"{state} {event.title} ({event.slug}), {render.seats(event.capacity)}, {local(event.starts_at)}.")
    if event.status == "draft":
        inv.out.message(f"Publish it with: eventreg event publish {event.slug}")


def _int(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{option} must be a whole number") from None


@command(app)
def update(
    inv: Invocation,
    event: EventRef,
    title: Annotated[str | None, typer.Option("--title")] = None,
    capacity: Annotated[int | None, typer.Option("--capacity", help="Raising it promotes from the waitlist.")] = None,
    starts_at: Annotated[
        str | None, typer.Option("--starts-at", help="A new start; without --ends-at the end moves with it.")
    ] = None,
    ends_at: Annotated[str | None, typer.Option("--ends-at")] = None,
    location: Annotated[str | None, typer.Option("--location")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    registration_opens: Annotated[str | None, typer.Option("--registration-opens")] = None,
    registration_closes: Annotated[str | None, typer.Option("--registration-closes")] = None,
    reason: Reason = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    as_json: Json = False,
    allow_past: AllowPast = False,
) -> None:
    """Change an event's details or capacity (organisers and admins).

    Example: eventreg event update python-workshop --capacity 60 --reason "bigger room"
    """
    changes = EventChanges(
        title, starts_at, ends_at, location, description, registration_opens, registration_closes, capacity, reason,
        allow_past,
    )  # fmt: skip
    if not changes.details() and capacity is None:
        raise InvalidInput("nothing to change: give at least one option")
    api = inv.api()
    if capacity is not None and not dry_run:
        plan = api.update_event(event, changes, dry_run=True).capacity
        if plan and plan.capacity_to < plan.capacity_from:
            inv.out.message(f"{plan.title}: capacity goes down from {plan.capacity_from} to {plan.capacity_to}.")
            if not inv.prompt.confirm("Lower it?", yes):
                raise DomainError("nothing was changed")
    try:
        result = api.update_event(event, changes, dry_run=dry_run)
    except DomainError as refused:
        if not _ask_past(inv, refused, allow_past):
            raise
        result = api.update_event(event, dataclasses.replace(changes, allow_past=True), dry_run=dry_run)
    if as_json:
        inv.out.json(result)
        return
    done = result.event
    verb = "Would update" if dry_run else "Updated"
    inv.out.message(f"{verb} {done.title} ({done.slug}): {local(done.starts_at)} to {local(done.ends_at)}, "
                    f"{render.seats(done.capacity)}.")  # fmt: skip
    if result.capacity and result.capacity.promoted:
        got = "would get" if dry_run else "got"
        names = ", ".join(p.email for p in result.capacity.promoted)
        inv.out.message(f"{render.people(len(result.capacity.promoted))} {got} a seat from the waitlist: {names}.")


@command(app)
def publish(inv: Invocation, event: EventRef, allow_past: AllowPast = False) -> None:
    """Publish a draft so people can register.

    Example: eventreg event publish python-workshop
    """
    api = inv.api()
    try:
        published = api.publish_event(event, allow_past)
    except DomainError as refused:
        if not _ask_past(inv, refused, allow_past):
            raise
        published = api.publish_event(event, True)
    inv.out.message(f"Published {published.title} ({published.slug}).")


@command(app)
def cancel(inv: Invocation, event: EventRef, reason: Reason = None, yes: Yes = False, dry_run: DryRun = False) -> None:
    """Cancel an event with all its registrations and waitlist places (asks first).

    Example: eventreg event cancel python-workshop --reason "speaker ill" --yes
    """
    api = inv.api()
    plan = api.cancel_event(event, reason, dry_run=True)
    whom = f"{render.people(plan.registered)} registered and {render.people(plan.waitlisted)} waiting"
    inv.out.message(f"Cancelling {plan.title} ({plan.event}) ends the places of {whom}.")
    if plan.people and (dry_run or inv.prompt.can_ask):
        inv.out.message("Affected: " + ", ".join(plan.people[:20]) + (" ..." if len(plan.people) > 20 else ""))
    if dry_run:
        inv.out.message("Dry run: nothing was changed.")
        return
    if not inv.prompt.confirm(f"Cancel {plan.title}?", yes):
        raise DomainError("nothing was changed")
    done = api.cancel_event(event, reason)
    inv.out.message(f"Cancelled {done.title}: {render.people(done.registered + done.waitlisted)} lost their place.")


@command(app, "list", listing=True)
def list_events(
    inv: Invocation,
    out: ListOptions,
    past: Annotated[bool, typer.Option("--past", help="Only past events, newest first.")] = False,
    include_past: Annotated[bool, typer.Option("--include-past", help="Past and upcoming events.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only events you organise.")] = False,
) -> None:
    """List upcoming events with their seats and waitlist (no login needed; staff also see drafts).

    Example: eventreg event list --json
    """
    query = EventsQuery("all" if include_past else "past" if past else "upcoming", mine)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_events(query, after, limit),
        lambda: api.export(query),
        Event,
        render.EVENTS,
        title="Events",
        empty="No events to show.",
    )


@command(app)
def show(inv: Invocation, event: EventRef, as_json: Json = False) -> None:
    """Show one event (no login needed; staff also see drafts).

    Example: eventreg event show python-workshop
    """
    found = inv.api().show_event(event)
    if as_json:
        inv.out.json(found)
        return
    render.event_details(inv.out, found)


@command(app)
def checkin(
    inv: Invocation,
    event: EventRef,
    user: UserRef,
    undo: Annotated[bool, typer.Option("--undo", help="Take the check-in back.")] = False,
) -> None:
    """Mark a registered attendee present (or take it back with --undo).

    Example: eventreg event checkin python-workshop alice@example.edu
    """
    done = inv.api().checkin(event, user, undo)
    if done.checked_in_at is None:
        inv.out.message(f"Took back the check-in of {done.email} at {done.title}.")
    else:
        inv.out.message(f"Checked in {done.email} at {done.title}, {local(done.checked_in_at)}.")


@command(app, listing=True)
def attendance(inv: Invocation, out: ListOptions, event: EventRef) -> None:
    """The registered attendees, present and absent, by name (its organisers and admins).

    Example: eventreg event attendance python-workshop --all --csv -o attendance.csv
    """
    query = AttendanceQuery(event)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_attendance(query, after, limit),
        lambda: api.export(query),
        Attendee,
        render.ATTENDANCE,
        title="Attendance",
        empty="Nobody is registered.",
    )


@command(app, listing=True)
def history(inv: Invocation, out: ListOptions, event: EventRef) -> None:
    """Every change to an event: registrations, promotions, moves, check-ins, capacity (its organisers and admins).

    Example: eventreg event history python-workshop
    """
    query = HistoryQuery(event)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_history(query, after, limit),
        lambda: api.export(query),
        HistoryEntry,
        render.HISTORY,
        title="History",
        empty="No history yet.",
    )


@command(app)
def stats(inv: Invocation, event: EventRef, as_json: Json = False) -> None:
    """Fill, waitlist, attendance rate and sign-ups per day, from one moment (its organisers and admins).

    Example: eventreg event stats python-workshop
    """
    report = inv.api().stats(event, utc_offset_minutes())
    if as_json:
        inv.out.json(report)
        return
    render.stats_details(inv.out, report)


@command(organisers_app, "list")
def organisers_list(inv: Invocation, event: EventRef, as_json: Json = False) -> None:
    """Who organises an event (staff).

    Example: eventreg event organisers list python-workshop
    """
    found = inv.api().organisers(event)
    if as_json:
        inv.out.json(found)
        return
    inv.out.rows(found, render.ORGANISERS, Organiser, title="Organisers", empty="No organisers.")


@command(organisers_app, "add")
def organisers_add(inv: Invocation, event: EventRef, user: UserRef) -> None:
    """Let another staff member manage an event (its organisers and admins).

    Example: eventreg event organisers add python-workshop sam@uni.edu
    """
    added = inv.api().add_organiser(event, user)
    inv.out.message(f"{added.email} now organises {event}.")


@command(organisers_app, "remove")
def organisers_remove(inv: Invocation, event: EventRef, user: UserRef) -> None:
    """Stop someone managing an event (its organisers and admins).

    Example: eventreg event organisers remove python-workshop sam@uni.edu
    """
    gone = inv.api().remove_organiser(event, user)
    inv.out.message(f"{gone.email} no longer organises {event}.")
