"""`eventreg admin ...`: admin accounts, users, every registration, capacities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from eventreg import context, output, prompts
from eventreg.access import ADMIN, PUBLIC, declare, signed_in
from eventreg.options import Json, PasswordStdin, Reason, UserRef
from eventreg.users.commands import user_json

app = typer.Typer(help="Administration: admin accounts, users, registrations, capacities.", no_args_is_help=True)
users_app = typer.Typer(help="Find users; change roles; deactivate, reactivate, unlock.", no_args_is_help=True)
app.add_typer(users_app, name="users")

REGISTRATION_KEYS = [
    "id", "event", "title", "email", "name", "status", "created_at", "registered_at", "cancelled_at", "checked_in_at",
]  # fmt: skip


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


@app.command()
@declare(ADMIN)
def create(
    email: Annotated[str, typer.Option("--email", help="The new admin's email.")],
    name: Annotated[str, typer.Option("--name", help="The new admin's name.")],
    reset_code: Annotated[
        bool, typer.Option("--reset-code", help="No password now: print a one-time code the new admin sets it with.")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create another admin account.

    Example: [bold]eventreg admin create --email dean@uni.edu --name "Dean" --reset-code[/bold]
    """
    from eventreg.admin import service
    from eventreg.auth import service as auth

    settings = context.settings()
    password = None if reset_code else prompts.secret("password", password_stdin, confirm=True)
    with signed_in() as (conn, actor):
        user = service.create_admin(conn, settings, actor, email, name, password)
        if reset_code:
            code, expires = auth.issue_reset_code(conn, settings, actor, user["id"])
    output.message(f"Created admin {user['email']}.")
    if reset_code:
        output.message(f"Give them this one-time code (valid until {output.local_time(expires)}):")
        output.data_line(code)
        output.message(f"They run: eventreg auth reset-password --email {user['email']} --code")


@users_app.command("list")
@declare(ADMIN)
def users_list(
    role: Annotated[str | None, typer.Option("--role", help="Only this role.")] = None,
    search: Annotated[str | None, typer.Option("--search", help="Text in the name or email.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 1000,
    as_json: Json = False,
) -> None:
    """List users.

    Example: [bold]eventreg admin users list --role staff[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        rows = service.list_users(conn, actor, role, search, limit)
    if as_json:
        output.emit_json([user_json(r) for r in rows])
        return
    output.table(
        rows,
        [("id", "ID"), ("email", "Email"), ("name", "Name"), ("role", "Role"), ("is_active", "Active")],
        title="Users",
        empty="No users match.",
    )


@users_app.command("show")
@declare(ADMIN)
def users_show(user: UserRef, as_json: Json = False) -> None:
    """Show one user.

    Example: [bold]eventreg admin users show alice@example.edu[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        found = service.show_user(conn, actor, user)
    if as_json:
        output.emit_json({**user_json(found), "locked_until": found["locked_until"]})
        return
    output.details(
        [("ID", found["id"]), ("Name", found["name"]), ("Email", found["email"]), ("Role", found["role"]),
         ("Active", found["is_active"]), ("Locked until", found["locked_until"]), ("Created", found["created_at"])],
        title=found["email"],
    )  # fmt: skip


@users_app.command("role")
@declare(ADMIN)
def users_role(
    user: UserRef,
    role: Annotated[str, typer.Argument(help="student, staff or admin.")],
    reason: Reason = None,
) -> None:
    """Change a user's role.

    Example: [bold]eventreg admin users role sam@uni.edu staff[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        changed = service.set_role(conn, actor, user, role, reason)
    output.message(f"{changed['email']} is now {role}.")


@users_app.command("deactivate")
@declare(ADMIN)
def users_deactivate(user: UserRef, reason: Reason = None) -> None:
    """Deactivate a user; every session of theirs ends at once.

    Example: [bold]eventreg admin users deactivate bob@example.edu --reason "left"[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        changed = service.set_active(conn, actor, user, False, reason)
    output.message(f"Deactivated {changed['email']}.")


@users_app.command("reactivate")
@declare(ADMIN)
def users_reactivate(user: UserRef, reason: Reason = None) -> None:
    """Reactivate a user.

    Example: [bold]eventreg admin users reactivate bob@example.edu[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        changed = service.set_active(conn, actor, user, True, reason)
    output.message(f"Reactivated {changed['email']}.")


@users_app.command("unlock")
@declare(ADMIN)
def users_unlock(user: UserRef, reason: Reason = None) -> None:
    """Lift a lock left by failed logins.

    Example: [bold]eventreg admin users unlock bob@example.edu[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        changed = service.unlock(conn, actor, user, reason)
    output.message(f"Unlocked {changed['email']}.")


@users_app.command("reset-code")
@declare(ADMIN)
def users_reset_code(user: UserRef) -> None:
    """Issue a one-time code a user sets a new password with (valid 24 hours).

    Example: [bold]eventreg admin users reset-code new.student@uni.edu[/bold]
    """
    from eventreg.admin import service
    from eventreg.auth import service as auth

    with signed_in() as (conn, actor):
        found = service.show_user(conn, actor, user)
        code, expires = auth.issue_reset_code(conn, context.settings(), actor, found["id"])
    output.message(f"One-time code for {found['email']} (valid until {output.local_time(expires)}):")
    output.data_line(code)
    output.message(f"They run: eventreg auth reset-password --email {found['email']} --code")


@app.command()
@declare(ADMIN)
def registrations(
    event: Annotated[str | None, typer.Option("--event", help="Only this event (slug or id).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user (email or id).")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="registered, waitlisted, cancelled or attended.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows per page.")] = 100,
    after: Annotated[int, typer.Option("--after", help="Start after this registration id (the last one seen).")] = 0,
    as_json: Json = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV of every matching row (all pages).")] = False,
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write the CSV to this file.")] = None,
) -> None:
    """Every registration across events, a page at a time (keyset pagination).

    Example: [bold]eventreg admin registrations --status waitlisted --csv -o waitlisted.csv[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        if as_csv or out:
            _export(conn, actor, event, user, status, out)
            return
        rows = service.registrations(conn, actor, event, user, status, after, limit)
    if as_json:
        output.emit_json([{k: r[k] for k in REGISTRATION_KEYS} for r in rows])
    else:
        output.table(
            rows,
            [("id", "ID"), ("event", "Event"), ("email", "Email"), ("status", "Status"), ("created_at", "When")],
            title="Registrations",
            empty="No registrations match.",
        )
    if len(rows) == limit:
        output.message(f"Next page: --after {rows[-1]['id']}")


def _export(conn: Any, actor: Any, event: str | None, user: str | None, status: str | None, out: Path | None) -> None:
    from eventreg.admin import service

    rows = service.all_registrations(conn, actor, event, user, status)
    with output.progress("Exporting registrations", None) as advance:

        def counted() -> Any:
            for row in rows:
                advance()
                yield row

        if out is None:
            count = output.write_csv(counted(), REGISTRATION_KEYS)
        else:
            with out.open("w", newline="", encoding="utf-8") as handle:
                count = output.write_csv(counted(), REGISTRATION_KEYS, handle)
    output.message(f"Exported {count} registration(s){f' to {out}' if out else ''}.")


@app.command()
@declare(ADMIN)
def capacity(
    event: Annotated[str, typer.Argument(help="The event's slug or id.")],
    seats: Annotated[int, typer.Argument(help="The new capacity.")],
    reason: Reason = None,
) -> None:
    """Set an event's capacity; raising it promotes from the waitlist at once.

    Example: [bold]eventreg admin capacity python-workshop 80 --reason "moved to the hall"[/bold]
    """
    from eventreg.admin import service

    with signed_in() as (conn, actor):
        promoted = service.set_capacity(conn, actor, event, seats, reason)
    output.message(f"Capacity set to {seats}; {len(promoted)} promoted from the waitlist.")
