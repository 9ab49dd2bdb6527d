"""How each view looks on a terminal: the columns of its table, the lines of its detail view."""

from __future__ import annotations

from eventreg.cli.output import Column, Output
from eventreg.timeparse import local
from eventreg.views import Event, EventStats


def fill_bar(used: int, total: int, width: int = 10, drawn: bool = True) -> str:
    """`███████░░░ 7/10`, or just `7/10` where nothing is drawn (a pipe or a file)."""
    if total <= 0 or not drawn:
        return f"{used}/{total}"
    filled = min(width, round(width * used / total))
    return "█" * filled + "░" * (width - filled) + f" {used}/{total}"


def seats(count: int) -> str:
    return f"{count} seat" if count == 1 else f"{count} seats"


def people(count: int, one: str = "person", many: str = "people") -> str:
    return f"{count} {one if count == 1 else many}"


EVENTS = [
    Column("slug", "Event"),
    Column("title", "Title"),
    Column("starts_at", "Starts"),
    Column(
        "registered",
        "Registered",
        lambda e: fill_bar(e.registered, e.capacity, width=8),
        plain=lambda e: f"{e.registered}/{e.capacity}",
    ),
    Column("waitlist", "Waiting"),
    Column("status", "Status"),
]
MY_REGISTRATIONS = [
    Column("slug", "Event"),
    Column("title", "Title"),
    Column("starts_at", "Starts"),
    Column("status", "Status"),
    Column("position", "Waitlist position"),
]
WAITLIST = [Column("position", "#"), Column("name", "Name"), Column("email", "Email"), Column("joined_at", "Joined")]
ATTENDANCE = [
    Column("name", "Name"),
    Column("email", "Email"),
    Column("present", "Present"),
    Column("checked_in_at", "Checked in"),
]
HISTORY = [
    Column("at", "When"),
    Column("action", "What"),
    Column("subject", "Who"),
    Column("actor", "By"),
    Column("reason", "Reason"),
]
USERS = [
    Column("id", "ID"),
    Column("email", "Email"),
    Column("name", "Name"),
    Column("role", "Role"),
    Column("is_active", "Active"),
]
REGISTRATIONS = [
    Column("id", "ID"),
    Column("event", "Event"),
    Column("email", "Email"),
    Column("status", "Status"),
    Column("created_at", "When"),
]
ORGANISERS = [Column("name", "Name"), Column("email", "Email"), Column("added_at", "Since")]


def event_details(out: Output, event: Event) -> None:
    out.details(
        [
            ("Title", event.title),
            ("Slug", event.slug),
            ("Status", event.status),
            ("Starts", event.starts_at),
            ("Ends", event.ends_at),
            ("Location", event.location),
            ("Registered", fill_bar(event.registered, event.capacity, 20, out.stdout_is_terminal)),
            ("Waitlist", event.waitlist),
            ("Registration opens", local(event.registration_opens_at) or "when published"),
            ("Registration closes", local(event.registration_closes_at) or "when the event starts"),
            ("Description", event.description),
        ],
        title=event.title,
    )


def stats_details(out: Output, report: EventStats) -> None:
    rate = report.attendance_rate
    out.details(
        [
            ("Registered", fill_bar(report.registered, report.capacity, 20, out.stdout_is_terminal)),
            ("Waitlist", report.waitlist),
            ("Present", f"{report.present} ({rate:.0%})" if rate is not None else "nobody registered"),
        ],
        title=report.title,
    )
    if report.signups_per_day:
        peak = max(d.signups for d in report.signups_per_day)
        out.data_line("Sign-ups per day:")
        for day in report.signups_per_day:
            bar = "█" * max(1, round(30 * day.signups / peak)) + " " if out.stdout_is_terminal else ""
            out.data_line(f"  {day.day}  {bar}{day.signups}")
