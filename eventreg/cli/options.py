"""The options every command shares, and the one decorator every command is made with.

`@command(group)` registers a function as a command of a group and gives it:
- the invocation (`inv`, the per-run context) as its first argument;
- the global options `--debug` and `--env` wherever they stand on the line
  (`eventreg event list --debug` works like `eventreg --debug event list`);
- with `listing=True`, the output bundle of every list: `--json`, `--csv`,
  `-o/--output FILE`, `--limit N`, `--after CURSOR` and `--all`, handed to the
  function as one `ListOptions` (sqlite-utils' output options are the model).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from eventreg.cli.context import Invocation
from eventreg.errors import InvalidInput
from eventreg.paging import DEFAULT_LIMIT, MAX_LIMIT, check_limit

Json = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys, see the README).")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password (and other secrets) from standard input, a line each."),
]
EventRef = Annotated[str, typer.Argument(help="The event's slug or id.", show_default=False)]
UserRef = Annotated[str, typer.Argument(help="The user's email or id.", show_default=False)]
Reason = Annotated[str | None, typer.Option("--reason", help="Why; kept in the history.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (needed when not at a terminal).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show exactly what would change, and change nothing.")]

CSV_HELP = (
    "Print CSV. Cells that start with =, +, - or @ get a leading ' so a spreadsheet shows them "
    "instead of running them; control characters become U+FFFD."
)


def group(help: str | None = None, **settings: Any) -> typer.Typer:
    """A group of commands: plain help (flags shown as flags, on every Typer version), and a
    bare group shows its help."""
    return typer.Typer(help=help, rich_markup_mode=None, no_args_is_help=True, **settings)


@dataclass(frozen=True)
class ListOptions:
    fmt: str  # table | json | csv
    output: Path | None
    limit: int
    after: str | None
    everything: bool


_GLOBAL = [
    inspect.Parameter(
        "debug_",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--debug", hidden=True)],
    ),
    inspect.Parameter(
        "env_",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, typer.Option("--env", hidden=True)],
    ),
]
_LISTING = [
    inspect.Parameter("json_", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Json),
    inspect.Parameter(
        "csv_",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--csv", help=CSV_HELP)],
    ),
    inspect.Parameter(
        "output_",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")],
    ),
    inspect.Parameter(
        "limit_",
        inspect.Parameter.KEYWORD_ONLY,
        default=DEFAULT_LIMIT,
        annotation=Annotated[int, typer.Option("--limit", help=f"Rows per page (1 to {MAX_LIMIT}).")],
    ),
    inspect.Parameter(
        "after_",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None, typer.Option("--after", help="Start after this cursor (printed after a page).")
        ],
    ),
    inspect.Parameter(
        "all_",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--all", help="Every page, streamed.")],
    ),
]


def command(
    group: typer.Typer, name: str | None = None, listing: bool = False, callback: bool = False
) -> Callable[[Callable[..., Any]], Any]:
    """`callback=True`: the function runs when the group itself is called without a sub-command."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)  # the modules use postponed annotations
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
            if p.name not in ("inv", "out")
        ]
        context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        extra = _GLOBAL + (_LISTING if listing else [])

        @functools.wraps(fn)
        def run(ctx: typer.Context, *args: Any, **kwargs: Any) -> Any:
            if callback and ctx.invoked_subcommand is not None:
                return None
            inv: Invocation = ctx.find_root().obj
            if kwargs.pop("debug_"):
                inv.debug = True
            env = kwargs.pop("env_")
            if env is not None:
                inv.env = env
            if listing:
                kwargs["out"] = _list_options(kwargs)
            return fn(inv, *args, **kwargs)

        parameters = [context, *own, *extra]
        run.__signature__ = signature.replace(parameters=parameters, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # type: ignore[attr-defined]  # Typer must read this signature, not fn's
        if callback:
            group.callback(invoke_without_command=True)(run)
        else:
            group.command(name)(run)
        return fn

    return register


def _list_options(kwargs: dict[str, Any]) -> ListOptions:
    as_json, as_csv = kwargs.pop("json_"), kwargs.pop("csv_")
    output, limit, after, everything = (
        kwargs.pop("output_"),
        kwargs.pop("limit_"),
        kwargs.pop("after_"),
        kwargs.pop("all_"),
    )
    if as_json and as_csv:
        raise InvalidInput("give --json or --csv, not both")
    check_limit(limit)
    if everything and after:
        raise InvalidInput("give --all or --after, not both")
    fmt = "json" if as_json else "csv" if as_csv else "table"
    return ListOptions(fmt, output, limit, after, everything)
