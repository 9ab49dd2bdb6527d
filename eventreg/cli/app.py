"""`eventreg`: the root command, its global options, and one way every failure ends.

Every error ends as one line on stderr (`Error: ...`) and the exit code the README
documents: 1 a rule refused it, 2 usage or malformed input, 3 not logged in or not
allowed, 4 not found, 5 database or server unreachable or misconfigured, 130
interrupted. `--debug` shows the traceback as well (secrets removed) and keeps the
exit code.
"""

from __future__ import annotations

import difflib
import importlib
import sys
import traceback
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from eventreg import __version__
from eventreg.cli.context import Invocation
from eventreg.errors import EXIT_AUTH, EXIT_DOMAIN, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, EXIT_USAGE, EventregError
from eventreg.redact import redact

# Each group lives in a module of its own, imported only when it is used: a command
# pays for its own group's imports, not for every group's.
GROUPS = {
    "user": "eventreg.cli.user",
    "auth": "eventreg.cli.auth",
    "event": "eventreg.cli.event",
    "register": "eventreg.cli.register",
    "waitlist": "eventreg.cli.waitlist",
    "admin": "eventreg.cli.admin",
    "db": "eventreg.cli.db",
}
# Top-level commands in modules of their own, loaded the same way: name -> module with a one-command `app`.
COMMANDS = {"serve": "eventreg.cli.serve"}


class Groups(TyperGroup):
    """The root command: its groups come from GROUPS, loaded on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*GROUPS, *COMMANDS, *super().list_commands(ctx)]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """A mistyped group gets a suggestion too (Typer only knows the commands already loaded)."""
        try:
            return super().resolve_command(ctx, args)
        except _usage_error_class() as error:
            matches = difflib.get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and hasattr(error, "message") and "Did you mean" not in error.message:
                error.message = f"{error.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise

    def get_command(self, ctx: Any, name: str) -> Any:
        if name in COMMANDS:
            single = typer.main.get_command(importlib.import_module(COMMANDS[name]).app)
            single.name = name
            return single
        if name not in GROUPS:
            return super().get_command(ctx, name)
        group = typer.main.get_group(importlib.import_module(GROUPS[name]).app)
        group.name = name
        return group


app = typer.Typer(
    cls=Groups,
    name="eventreg",
    help="Event registration on PostgreSQL: events, registrations, waitlists, attendance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"eventreg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    env: Annotated[
        str | None,
        typer.Option(
            "--env", help="Which database: dev, test or prod.", envvar="EVENTREG_ENV", metavar="[dev|test|prod]"
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Run event registration for your organisation on PostgreSQL.

    Example: eventreg event list
    """
    inv: Invocation = ctx.obj
    inv.env = env
    inv.debug = inv.debug or debug


_COMMAND: Any = None


def click_command() -> Any:
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = typer.main.get_command(app)
    return _COMMAND


def _usage_error_class() -> type[BaseException]:
    """Click's usage error base, reached through Typer's public BadParameter, so this works
    whether Typer uses Click itself or its own copy of it."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def run(args: list[str], inv: Invocation | None = None) -> int:
    """Run one command line; returns the exit code."""
    inv = inv or Invocation()
    try:
        result = click_command().main(args, prog_name="eventreg", standalone_mode=False, obj=inv)
        if result == EXIT_INTERRUPTED:  # newer Typer turns Ctrl-C into Exit(130) on its own, silently
            return _fail(inv, KeyboardInterrupt(), "interrupted", EXIT_INTERRUPTED)
        return result if isinstance(result, int) else 0
    except EventregError as exc:
        return _fail(inv, exc, exc.message, exc.exit_code)
    except (KeyboardInterrupt, typer.Abort) as exc:
        return _fail(inv, exc, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        if isinstance(exc, _usage_error_class()):
            return _usage(inv, exc)
        mapped = _database_error(exc)
        if mapped is not None:
            return _fail(inv, exc, *mapped)
        return _fail(inv, exc, f"unexpected {type(exc).__name__} (run with --debug for the traceback)", EXIT_DOMAIN)


def _usage(inv: Invocation, exc: Any) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # a bare group: its help
        print(ctx.get_help())
        return 0
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return _fail(inv, exc, f"{exc.format_message()}{hint}", getattr(exc, "exit_code", EXIT_USAGE))


def _fail(inv: Invocation, exc: BaseException, message: str, code: int) -> int:
    if inv.debug:
        print(redact("".join(traceback.format_exception(exc)), inv.secrets()), file=sys.stderr, end="")
    inv.out.error(redact(message, inv.secrets()))
    return code


def _database_error(exc: BaseException) -> tuple[str, int] | None:
    """Driver errors that reach the top, as a line and an exit code."""
    if not type(exc).__module__.startswith("psycopg"):
        return None
    import psycopg  # only once a driver error exists: --help and a remote client never load the driver

    from eventreg.db.connection import first_line

    if isinstance(
        exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn | psycopg.errors.UndefinedFunction
    ):
        return "the database is not set up for this version: run eventreg db migrate", EXIT_UNAVAILABLE
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return "the database took too long and the statement was cancelled; nothing was changed", EXIT_DOMAIN
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return f"the database role may not do this (run it as the schema owner): {first_line(exc)}", EXIT_AUTH
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return f"lost the database connection, nothing was changed: {first_line(exc)}", EXIT_UNAVAILABLE
    return f"database error: {first_line(exc)}", EXIT_DOMAIN


def main(argv: list[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    sys.exit(run(args))
