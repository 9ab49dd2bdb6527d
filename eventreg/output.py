"""The only place that prints. Data goes to stdout, messages and errors to stderr.

Rich honours NO_COLOR and drops styling when the stream is not a terminal.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

Row = Mapping[str, Any]
NO_WRAP = {"fill", "starts", "state", "status", "version", "position", "action", "email"}


def _console(stderr: bool = False):  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def local_time(value: datetime | None, short: bool = False) -> str:
    """Timestamps are stored as timestamptz and shown in the local zone."""
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M %Z").strip()


def message(text: str) -> None:
    """A human message on stderr (never data)."""
    print(text, file=sys.stderr, flush=True)


def error(text: str) -> None:
    print(f"Error: {text}", file=sys.stderr, flush=True)


def data_line(text: str) -> None:
    print(text, flush=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_jsonable, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def write_csv(rows: Iterable[Row], columns: Sequence[str], out: IO[str] | None = None) -> int:
    stream = out or sys.stdout
    writer = csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({key: _csv_value(row.get(key)) for key in columns})
        count += 1
    stream.flush()
    return count


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def table(
    rows: Sequence[Row],
    columns: Sequence[tuple[str, str]],
    title: str | None = None,
    empty: str = "Nothing to show.",
) -> None:
    """Render rows as a Rich table; `columns` pairs a row key with its heading."""
    if not rows:
        message(empty)
        return
    from rich.table import Table

    grid = Table(title=title, show_lines=False)
    for index, (key, heading) in enumerate(columns):
        # Keys and bars stay on one line; free text wraps.
        grid.add_column(heading, no_wrap=index == 0 or key in NO_WRAP)
    for row in rows:
        grid.add_row(*(_cell(row.get(key)) for key, _ in columns))
    _console().print(grid)


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_time(value, short=True)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def details(pairs: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """A two-column key/value view for `show` commands."""
    from rich.table import Table

    grid = Table(title=title, show_header=False, box=None, padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        grid.add_row(key, _cell(value))
    _console().print(grid)


def fill_bar(used: int, total: int, width: int = 20) -> str:
    """A plain-text fill bar, e.g. `██████░░░░ 30/50`."""
    if total <= 0:
        return f"{used}/{total}"
    filled = min(width, round(width * used / total))
    return "█" * filled + "░" * (width - filled) + f" {used}/{total}"


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Any]:
    """A Rich progress bar on stderr, shown only when stderr is a terminal."""
    from rich.progress import Progress

    bar = Progress(console=_console(stderr=True), transient=True, disable=not sys.stderr.isatty())
    with bar:
        task = bar.add_task(description, total=total)

        def advance(step: int = 1) -> None:
            bar.advance(task, step)

        yield advance
