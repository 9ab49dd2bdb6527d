"""The root Typer application: global options, error handling, one group per module."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from eventreg import __version__
from eventreg.context import AppState, set_state, state
from eventreg.errors import EXIT_AUTH, EXIT_DATABASE, EXIT_DOMAIN, EventregError


def _database_error(exc: BaseException) -> tuple[str, int] | None:
    """Map psycopg failures that reach the top to a line and an exit code."""
    module = type(exc).__module__
    if not module.startswith("psycopg"):
        return None
    import psycopg

    from eventreg.db.connection import first_line

    if isinstance(exc, psycopg.errors.UndefinedTable):
        return "the database is not set up: run `eventreg db migrate` first", EXIT_DATABASE
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"the database took too long and the statement was cancelled: {first_line(exc)}", EXIT_DOMAIN
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return f"the database role may not do this: {first_line(exc)}", EXIT_AUTH
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return f"lost the database connection, nothing was changed: {first_line(exc)}", EXIT_DATABASE
    return f"database error: {first_line(exc)}", EXIT_DOMAIN


class EventregGroup(TyperGroup):
    """Turns every error into one line on stderr and a documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        from eventreg.output import error

        try:
            return super().invoke(ctx)
        except EventregError as exc:
            if state().debug:
                raise
            error(exc.message)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if state().debug or _is_click_exception(exc):
                raise
            mapped = _database_error(exc)
            if mapped is None:
                error(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
                raise typer.Exit(EXIT_DOMAIN) from None
            error(mapped[0])
            raise typer.Exit(mapped[1]) from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Usage errors as one line too: `Error: <what> (see '<command> --help')`, exit 2."""
        from typer import Abort
        from typer._click.exceptions import ClickException

        try:
            rv = super().main(*args, **{**kwargs, "standalone_mode": False})
        except ClickException as exc:
            if not standalone_mode:
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
                from typer import rich_utils

                rich_utils.rich_format_error(exc)
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            print(f"Error: {exc.format_message()}{hint}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except Abort:
            if not standalone_mode:
                raise
            print("Aborted.", file=sys.stderr)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _is_click_exception(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("typer._click", "click"))


app = typer.Typer(
    cls=EventregGroup,
    name="eventreg",
    help="Event registration on PostgreSQL: events, registrations, waitlists, attendance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"eventreg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    env: Annotated[
        str | None,
        typer.Option("--env", help="Which database URL to use: dev, test or prod.", envvar="EVENTREG_ENV"),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """eventreg: run event registration for your organisation on PostgreSQL.

    Example: [bold]eventreg event list[/bold]
    """
    set_state(AppState(env=env, debug=debug))


def _register_groups() -> None:
    from eventreg.admin.commands import app as admin_app
    from eventreg.auth.commands import app as auth_app
    from eventreg.db.commands import app as db_app
    from eventreg.events.commands import app as event_app
    from eventreg.registration.commands import app as register_app
    from eventreg.users.commands import app as user_app
    from eventreg.waitlist.commands import app as waitlist_app

    app.add_typer(user_app, name="user")
    app.add_typer(auth_app, name="auth")
    app.add_typer(event_app, name="event")
    app.add_typer(register_app, name="register")
    app.add_typer(waitlist_app, name="waitlist")
    app.add_typer(admin_app, name="admin")
    app.add_typer(db_app, name="db")


_register_groups()


def main() -> None:
    app(prog_name="eventreg")


if __name__ == "__main__":  # pragma: no cover
    main()
