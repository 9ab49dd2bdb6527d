"""`eventreg admin ...`: admin accounts, users, every registration, capacities."""

from __future__ import annotations

from typing import Annotated

import typer

from eventreg.cli import lists, render
from eventreg.cli.context import Invocation
from eventreg.cli.options import (
    DryRun,
    EventRef,
    Json,
    ListOptions,
    PasswordStdin,
    Reason,
    UserRef,
    Yes,
    command,
    group,
)
from eventreg.errors import DomainError
from eventreg.timeparse import local
from eventreg.views import Registration, RegistrationsQuery, ResetCode, User, UsersQuery

NAME = "admin"
app = group("Administration: admin accounts, users, every registration, capacities.")
users_app = group("Find users; change roles; deactivate, reactivate, unlock; reset codes.")
app.add_typer(users_app, name="users")


def _show_code(inv: Invocation, code: ResetCode) -> None:
    inv.out.message(f"One-time code for {code.email} (valid until {local(code.expires_at)}):")
    inv.out.data_line(code.code)
    inv.out.message(
        f"They run: eventreg auth reset-password --email {code.email} --code (and type the code when asked)"
    )


@command(app)
def bootstrap(
    inv: Invocation,
    email: Annotated[str, typer.Option("--email", help="The first admin's email.")],
    name: Annotated[str, typer.Option("--name", help="The first admin's name.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create the first admin account; works only while there is no admin.

    Example: eventreg admin bootstrap --email it@uni.edu --name "IT Office"
    """
    inv.require_database("admin bootstrap needs")  # before the password is asked for
    password = inv.prompt.secret("password", password_stdin, confirm=True)
    user = inv.api().bootstrap_admin(email, name, password)
    inv.out.message(f"Created the first admin, {user.email}. Log in with: eventreg auth login --email {user.email}")


@command(app)
def create(
    inv: Invocation,
    email: Annotated[str, typer.Option("--email", help="The new admin's email.")],
    name: Annotated[str, typer.Option("--name", help="The new admin's name.")],
    reset_code: Annotated[
        bool, typer.Option("--reset-code", help="No password now: print a one-time code they set one with.")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create another admin account.

    Example: eventreg admin create --email dean@uni.edu --name "Dean" --reset-code
    """
    password = None if reset_code else inv.prompt.secret("password", password_stdin, confirm=True)
    done = inv.api().create_admin(email, name, password)
    inv.out.message(f"Created the admin {done.user.email}.")
    if done.reset_code:
        _show_code(inv, done.reset_code)


@command(users_app, "list", listing=True)
def users_list(
    inv: Invocation,
    out: ListOptions,
    role: Annotated[str | None, typer.Option("--role", help="Only this role.")] = None,
    search: Annotated[str | None, typer.Option("--search", help="Text in the name or email.")] = None,
) -> None:
    """List users.

    Example: eventreg admin users list --role staff
    """
    query = UsersQuery(role, search)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_users(query, after, limit),
        lambda: api.export(query),
        User,
        render.USERS,
        title="Users",
        empty="No users match.",
    )


@command(users_app, "show")
def users_show(inv: Invocation, user: UserRef, as_json: Json = False) -> None:
    """Show one user, and until when sign-in attempts are refused after too many failures.

    Example: eventreg admin users show alice@example.edu
    """
    found = inv.api().show_user(user)
    if as_json:
        inv.out.json(found)
        return
    inv.out.details(
        [
            ("ID", found.id),
            ("Name", found.name),
            ("Email", found.email),
            ("Role", found.role),
            ("Active", found.is_active),
            ("Attempts refused until", found.locked_until),
            ("Created", found.created_at),
        ],
        title=found.email,
    )


@command(users_app, "role")
def users_role(
    inv: Invocation,
    user: UserRef,
    role: Annotated[str, typer.Argument(help="student, staff or admin.")],
    reason: Reason = None,
) -> None:
    """Change a user's role.

    Example: eventreg admin users role sam@uni.edu staff
    """
    done = inv.api().set_role(user, role, reason)
    inv.out.message(f"{done.user.email} is now {done.user.role}.")


@command(users_app, "deactivate")
def users_deactivate(
    inv: Invocation, user: UserRef, reason: Reason = None, yes: Yes = False, dry_run: DryRun = False
) -> None:
    """Deactivate a user: every session of theirs ends at once (asks first).

    Example: eventreg admin users deactivate bob@example.edu --reason "left" --yes
    """
    api = inv.api()
    plan = api.set_active(user, False, reason, dry_run=True)
    inv.out.message(f"Deactivating {plan.user.email} ends {plan.revoked_sessions} live session(s).")
    if dry_run:
        inv.out.message("Dry run: nothing was changed.")
        return
    if not inv.prompt.confirm(f"Deactivate {plan.user.email}?", yes):
        raise DomainError("nothing was changed")
    done = api.set_active(user, False, reason)
    inv.out.message(f"Deactivated {done.user.email}; {done.revoked_sessions} session(s) ended.")


@command(users_app, "reactivate")
def users_reactivate(inv: Invocation, user: UserRef, reason: Reason = None) -> None:
    """Reactivate a user.

    Example: eventreg admin users reactivate bob@example.edu
    """
    done = inv.api().set_active(user, True, reason)
    inv.out.message(f"Reactivated {done.user.email}.")


@command(users_app, "unlock")
def users_unlock(inv: Invocation, user: UserRef, reason: Reason = None) -> None:
    """Lift the limits that failed sign-in and reset attempts put on an account.

    Example: eventreg admin users unlock bob@example.edu
    """
    done = inv.api().unlock(user, reason)
    inv.out.message(f"Unlocked {done.user.email}.")


@command(users_app, "reset-code")
def users_reset_code(inv: Invocation, user: UserRef) -> None:
    """Issue a one-time code a user sets a new password with (valid 24 hours).

    Example: eventreg admin users reset-code new.student@uni.edu
    """
    done = inv.api().reset_code(user)
    assert done.reset_code is not None
    _show_code(inv, done.reset_code)


@command(app, listing=True)
def registrations(
    inv: Invocation,
    out: ListOptions,
    event: Annotated[str | None, typer.Option("--event", help="Only this event (slug or id).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user (email or id).")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="registered, waitlisted, cancelled or attended.")
    ] = None,
) -> None:
    """Every registration across events, a page at a time or all of it.

    Example: eventreg admin registrations --status waitlisted --all --csv -o waitlisted.csv
    """
    query = RegistrationsQuery(event, user, status)
    api = inv.api()
    lists.show(
        inv,
        out,
        lambda after, limit: api.list_registrations(query, after, limit),
        lambda: api.export(query),
        Registration,
        render.REGISTRATIONS,
        title="Registrations",
        empty="No registrations match.",
    )


@command(app)
def capacity(
    inv: Invocation,
    event: EventRef,
    seats: Annotated[int, typer.Argument(help="The new capacity.")],
    reason: Reason = None,
    yes: Yes = False,
    dry_run: DryRun = False,
) -> None:
    """Set an event's capacity; raising it promotes from the waitlist at once, in order.
    With --dry-run: who would get a seat.

    Example: eventreg admin capacity python-workshop 80 --dry-run
    """
    api = inv.api()
    plan = api.set_capacity(event, seats, reason, dry_run=True)
    if dry_run or plan.capacity_to < plan.capacity_from:
        inv.out.message(f"{plan.title}: capacity {plan.capacity_from} -> {plan.capacity_to}.")
        for number, person in enumerate(plan.promoted, 1):
            inv.out.message(f"  {number}. {person.name} <{person.email}> would get a seat")
    if dry_run:
        inv.out.message("Dry run: nothing was changed.")
        return
    if plan.capacity_to < plan.capacity_from and not inv.prompt.confirm("Lower the capacity?", yes):
        raise DomainError("nothing was changed")
    done = api.set_capacity(event, seats, reason)
    inv.out.message(
        f"Capacity of {done.title} set to {done.capacity_to}; {len(done.promoted)} promoted from the waitlist."
    )
