"""`eventreg event ...`: staff create and run events; everyone lists and shows them."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from eventreg import output, prompts
from eventreg.access import PUBLIC, STAFF, declare, maybe_signed_in, signed_in
from eventreg.errors import InvalidInput, NotLoggedIn
from eventreg.options import EventRef, Json, Reason, UserRef

app = typer.Typer(help="Create, publish, list and run events; check attendees in.", no_args_is_help=True)


LIST_COLUMNS = [
    ("slug", "Event"),
    ("title", "Title"),
    ("starts", "Starts"),
    ("fill", "Registered"),
    ("waitlist", "Wait"),
]


def _required(value: Any, label: str, option: str) -> Any:
    if value is not None:
        return value
    if sys.stdin.isatty():
        return prompts.text(label)
    raise InvalidInput(f"missing option {option}")


def _show_event(event: dict[str, Any]) -> None:
    from eventreg.events.service import event_json

    data = event_json(event)
    output.details(
        [
            ("Title", data["title"]),
            ("Slug", data["slug"]),
            ("Status", data["status"]),
            ("Starts", data["starts_at"]),
            ("Ends", data["ends_at"]),
            ("Location", data["location"]),
            ("Registered", output.fill_bar(data["registered"], data["capacity"])),
            ("Waitlist", data["waitlist"]),
            ("Registration opens", data["registration_opens_at"] or "when published"),
            ("Registration closes", data["registration_closes_at"] or "when the event starts"),
            ("Description", data["description"]),
        ],
        title=data["title"],
    )


@app.command()
@declare(STAFF)
def create(
    title: Annotated[str | None, typer.Option("--title", help="The event's title.")] = None,
    capacity: Annotated[int | None, typer.Option("--capacity", help="How many seats.")] = None,
    starts_at: Annotated[str | None, typer.Option("--starts-at", help="ISO 8601; local time if no zone.")] = None,
    ends_at: Annotated[
        str | None, typer.Option("--ends-at", help="ISO 8601 (default: one hour after the start).")
    ] = None,
    slug: Annotated[str | None, typer.Option("--slug", help="Short name (default: made from the title).")] = None,
    location: Annotated[str, typer.Option("--location", help="Where.")] = "",
    description: Annotated[str, typer.Option("--description", help="What it is about.")] = "",
    registration_opens: Annotated[str | None, typer.Option("--registration-opens", help="ISO 8601.")] = None,
    registration_closes: Annotated[str | None, typer.Option("--registration-closes", help="ISO 8601.")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish at once (default: a draft).")] = False,
    as_json: Json = False,
) -> None:
    """Create an event (a draft unless --publish). Prompts for missing values in a terminal.

    Example: [bold]eventreg event create --title "Python Workshop" --capacity 40
    --starts-at 2026-12-03T14:00 --publish[/bold]
    """
    from eventreg.events import service

    title = _required(title, "title", "--title")
    capacity = int(_required(capacity, "capacity", "--capacity"))
    starts_at = _required(starts_at, "start time (ISO 8601, e.g. 2026-12-03T14:00)", "--starts-at")
    with signed_in() as (conn, actor):
        event = service.create(
            conn,
            actor,
            title,
            capacity,
            starts_at,
            ends_at,
            slug,
            location,
            description,
            registration_opens,
            registration_closes,
            publish,
        )
    if as_json:
        output.emit_json(service.event_json(event))
        return
    state = "Published" if publish else "Created draft"
    output.message(f"{state} {event['title']} ({event['slug']}), {event['capacity']} seats.")
    if not publish:
        output.message(f"Publish it with: eventreg event publish {event['slug']}")


@app.command()
@declare(STAFF)
def update(
    event: EventRef,
    title: Annotated[str | None, typer.Option("--title")] = None,
    capacity: Annotated[int | None, typer.Option("--capacity", help="Raising it promotes from the waitlist.")] = None,
    starts_at: Annotated[str | None, typer.Option("--starts-at")] = None,
    ends_at: Annotated[str | None, typer.Option("--ends-at")] = None,
    slug: Annotated[str | None, typer.Option("--slug")] = None,
    location: Annotated[str | None, typer.Option("--location")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    registration_opens: Annotated[str | None, typer.Option("--registration-opens")] = None,
    registration_closes: Annotated[str | None, typer.Option("--registration-closes")] = None,
    reason: Reason = None,
    as_json: Json = False,
) -> None:
    """Change an event's details or capacity.

    Example: [bold]eventreg event update python-workshop --capacity 60 --reason "bigger room"[/bold]
    """
    from eventreg.events import service

    changes = {
        "title": title,
        "capacity": capacity,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "slug": slug,
        "location": location,
        "description": description,
        "registration_opens_at": registration_opens,
        "registration_closes_at": registration_closes,
    }
    if all(value is None for value in changes.values()):
        raise InvalidInput("nothing to change: give at least one option")
    with signed_in() as (conn, actor):
        updated = service.update(conn, actor, event, changes, reason)
    if as_json:
        output.emit_json(service.event_json(updated))
        return
    output.message(f"Updated {updated['title']} ({updated['slug']}).")


@app.command()
@declare(STAFF)
def publish(event: EventRef) -> None:
    """Publish a draft so people can register.

    Example: [bold]eventreg event publish python-workshop[/bold]
    """
    from eventreg.events import service

    with signed_in() as (conn, actor):
        published = service.publish(conn, actor, event)
    output.message(f"Published {published['title']}.")


@app.command()
@declare(STAFF)
def cancel(
    event: EventRef,
    reason: Reason = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Cancel an event with all its registrations and waitlist places.

    Example: [bold]eventreg event cancel python-workshop --reason "speaker ill" --yes[/bold]
    """
    from eventreg.events import service

    with signed_in() as (conn, actor):
        found = service.get(conn, event)
        if not yes:
            if not sys.stdin.isatty():
                raise InvalidInput("cancelling needs confirmation: pass --yes")
            typer.confirm(f"Cancel {found['title']} and its {found['registered_count']} registration(s)?", abort=True)
        count = service.cancel(conn, actor, event, reason)
    output.message(f"Cancelled {found['title']}; {count} registration(s) and waitlist place(s) cancelled.")


@app.command("list")
@declare(PUBLIC)
def list_events(
    all_: Annotated[bool, typer.Option("--all", help="Past and upcoming.")] = False,
    past: Annotated[bool, typer.Option("--past", help="Only past events.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only events you created.")] = False,
    as_json: Json = False,
) -> None:
    """List upcoming events with their fill and waitlist (no login needed; staff also see drafts).

    Example: [bold]eventreg event list --json[/bold]
    """
    from eventreg.events import service

    scope = "all" if all_ else "past" if past else "upcoming"
    with maybe_signed_in() as (conn, actor):
        if mine and actor is None:
            raise NotLoggedIn("--mine needs a login: run eventreg auth login")
        rows = service.listing(conn, actor, scope, mine)
    if as_json:
        output.emit_json([service.event_json(r) for r in rows])
        return
    view = [
        {
            **r,
            "title": r["title"] if r["status"] == "published" else f"{r['title']} ({r['status']})",
            "starts": output.local_time(r["starts_at"], short=True),
            "fill": output.fill_bar(r["registered_count"], r["capacity"], width=8),
            "waitlist": r["waitlist_length"],
        }
        for r in rows
    ]
    output.table(view, LIST_COLUMNS, title="Events", empty="No events to show.")


@app.command()
@declare(PUBLIC)
def show(event: EventRef, as_json: Json = False) -> None:
    """Show one event (no login needed; staff also see drafts).

    Example: [bold]eventreg event show python-workshop[/bold]
    """
    from eventreg.events import service

    with maybe_signed_in() as (conn, actor):
        found = service.show(conn, actor, event)
    if as_json:
        output.emit_json(service.event_json(found))
        return
    _show_event(found)


@app.command()
@declare(STAFF)
def checkin(
    event: EventRef,
    user: UserRef,
    undo: Annotated[bool, typer.Option("--undo", help="Take the check-in back.")] = False,
) -> None:
    """Mark a registered attendee present (or take it back with --undo).

    Example: [bold]eventreg event checkin python-workshop alice@example.edu[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        result = service.checkin(conn, actor, event, user, undo)
    if undo:
        output.message(f"Check-in of {result['user']['email']} taken back.")
    else:
        output.message(f"Checked in {result['user']['email']} at {output.local_time(result['checked_in_at'])}.")


ATTENDANCE_KEYS = ["user_id", "email", "name", "registered_at", "checked_in_at", "present"]


@app.command()
@declare(STAFF)
def attendance(
    event: EventRef,
    as_json: Json = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """List the registered attendees, present and absent.

    Example: [bold]eventreg event attendance python-workshop --csv > attendance.csv[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        found, rows = service.attendance(conn, actor, event)
    if as_json:
        output.emit_json([{k: r[k] for k in ATTENDANCE_KEYS} for r in rows])
    elif as_csv:
        output.write_csv(rows, ATTENDANCE_KEYS)
    else:
        present = sum(1 for r in rows if r["present"])
        output.table(
            rows,
            [("name", "Name"), ("email", "Email"), ("present", "Present"), ("checked_in_at", "Checked in")],
            title=f"{found['title']}: {present} present, {len(rows) - present} absent",
            empty="Nobody is registered.",
        )


@app.command()
@declare(STAFF)
def history(
    event: EventRef,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries.")] = 500,
    as_json: Json = False,
) -> None:
    """Every change to an event: registrations, promotions, moves, check-ins, capacity.

    Example: [bold]eventreg event history python-workshop[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        found, rows = service.history(conn, actor, event, limit)
    if as_json:
        output.emit_json(
            [{k: r[k] for k in ("id", "at", "action", "actor", "subject", "reason", "details")} for r in rows]
        )
        return
    output.table(
        rows,
        [("at", "When"), ("action", "What"), ("subject", "Who"), ("actor", "By"), ("reason", "Reason")],
        title=f"History of {found['title']}",
        empty="No history yet.",
    )


@app.command()
@declare(STAFF)
def stats(event: EventRef, as_json: Json = False) -> None:
    """Fill, waitlist, attendance rate and a chart of sign-ups per day.

    Example: [bold]eventreg event stats python-workshop[/bold]
    """
    from eventreg.registration import service

    with signed_in() as (conn, actor):
        report = service.stats(conn, actor, event)
    if as_json:
        output.emit_json(report)
        return
    rate = report["attendance_rate"]
    output.details(
        [
            ("Registered", output.fill_bar(report["registered"], report["capacity"])),
            ("Waitlist", report["waitlist"]),
            ("Present", f"{report['present']} ({rate:.0%})" if rate is not None else "nobody registered"),
        ],
        title=report["title"],
    )
    days = report["signups_per_day"]
    if days:
        peak = max(d["signups"] for d in days)
        output.data_line("Sign-ups per day:")
        for day in days:
            bar = "█" * max(1, round(30 * day["signups"] / peak))
            output.data_line(f"  {day['day']}  {bar} {day['signups']}")
