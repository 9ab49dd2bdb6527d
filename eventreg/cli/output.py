"""The only place that prints. Data goes to stdout, messages and errors to stderr.

One writer serves every list, page by page, so memory stays flat whatever the
number of rows:
- a terminal gets tables that wrap long values and never cut or drop them;
- a pipe or a file gets plain tab-separated lines with a header, for grep/cut/awk;
- `--json` gets a JSON array (the stable keys of views.py), `--csv` CSV.
JSON is written by `json_text` alone: it parses to exactly the data, but every
character `text.UNSAFE` matches is a \\uXXXX escape, so it can never control a terminal.
User text is never trusted: every character that could move the cursor, clear the
screen or plant a link is shown as a visible escape (`text.for_terminal`), and
Rich never reads markup in data. NO_COLOR (any value) means no escape codes at all.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TextIO

from eventreg import text
from eventreg.errors import InvalidInput
from eventreg.timeparse import local
from eventreg.views import to_json

TABLE_CHUNK = 200  # rows per table when a terminal gets --all
MIN_COLUMN = 12  # a terminal narrower than this per column shows each row as a record instead
SHORT_VALUE = 24  # values up to this long stay on one line in a table when there is room


@dataclass(frozen=True)
class Column:
    """A column of a table: a field of the row, or what `get` makes of the whole row;
    `plain`, when given, is what a pipe gets instead (no drawing, only the figures)."""

    key: str
    heading: str
    get: Callable[[Any], Any] | None = None
    plain: Callable[[Any], Any] | None = None

    def text(self, row: Any) -> str:
        return text.for_terminal(cell(self.get(row) if self.get else _field(row, self.key)))

    def plain_text(self, row: Any) -> str:
        return text.for_terminal(cell(self.plain(row))) if self.plain else self.text(row)


def cell(value: Any) -> str:
    """A value as a person reads it: local times with their zone, yes/no, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return local(value)
    if isinstance(value, date | Decimal | int | float):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON that parses to `value` and can never control a terminal: json.dumps escapes only
    C0 controls, so C1 controls (U+009B reads as CSI), DEL, bidi and invisible characters
    and lone surrogates become \\uXXXX escapes too (a surrogate pair above U+FFFF).
    Other non-ASCII stays as it is, readable."""
    return text.UNSAFE.sub(_json_escape, json.dumps(value, indent=indent, ensure_ascii=False))


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":  # json.dumps escapes every control inside a string: this one is indent's line break
        return char
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def csv_value(value: Any) -> str:
    """A value as CSV holds it: the same text as the COPY exports (db/export.py)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return text.csv_cell(value)
    if isinstance(value, dict | list):
        return text.csv_cell(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
    return str(value)


def _field(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, Mapping) else getattr(row, key)


class Output:
    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None, no_color: bool = False) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.no_color = no_color

    @property
    def stdout_is_terminal(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stderr_is_terminal(self) -> bool:
        return _isatty(self.stderr)

    # -- messages (stderr) ------------------------------------------------------------

    def message(self, line: str) -> None:
        print(text.for_terminal(line), file=self.stderr, flush=True)

    def error(self, line: str) -> None:
        print(f"Error: {text.for_terminal(line)}", file=self.stderr, flush=True)

    # -- data (stdout) ------------------------------------------------------------------

    def data_line(self, line: str) -> None:
        print(text.for_terminal(line, keep_newlines=True), file=self.stdout, flush=True)

    def json(self, value: Any) -> None:
        self.stdout.write(json_text(to_json(value), indent=2) + "\n")
        self.stdout.flush()

    def details(self, pairs: Sequence[tuple[str, Any]], title: str | None = None) -> None:
        """One record as `key: value` lines (a terminal gets an aligned grid)."""
        shown = [(key, text.for_terminal(cell(value), keep_newlines=True)) for key, value in pairs]
        if not self.stdout_is_terminal:
            for key, value in shown:
                self.stdout.write(f"{key}\t{_tsv(value)}\n")
            self.stdout.flush()
            return
        from rich.table import Table
        from rich.text import Text

        grid = Table(title=Text(text.for_terminal(title)) if title else None, show_header=False, box=None)
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in shown:
            grid.add_row(Text(key), Text(value))
        self._console().print(grid)

    def rows(
        self, rows: Iterable[Any], columns: Sequence[Column], view: type | Sequence[str], *, fmt: str = "table",
        to: Path | None = None, title: str | None = None, empty: str = "Nothing to show.",
    ) -> int:  # fmt: skip
        """Write rows of a view (a dataclass of views.py) as a table, plain lines, JSON or CSV;
        returns how many. JSON and CSV carry every field of the view (or the keys given); a table the columns."""
        with self._sink(to) as out:
            if fmt == "json":
                return _write_json(out, rows)
            if fmt == "csv":
                keys = [f.name for f in dataclasses.fields(view)] if isinstance(view, type) else list(view)
                return _write_csv(out, rows, keys)
            if to is None and self.stdout_is_terminal:
                count = self._write_tables(rows, columns, title)
            else:
                count = _write_plain(out, rows, columns)
        if count == 0 and fmt == "table":
            self.message(empty)
        return count

    def raw(self, blocks: Iterable[bytes], to: Path | None = None) -> int:
        """Bytes as they come (a CSV export made by the database); returns how many bytes."""
        size = 0
        with self._sink(to, binary=True) as out:
            for block in blocks:
                out.write(block)
                size += len(block)
        return size

    @contextmanager
    def _sink(self, to: Path | None, binary: bool = False) -> Iterator[Any]:
        if to is None:
            stream: Any = self.stdout.buffer if binary and hasattr(self.stdout, "buffer") else self.stdout
            if binary and stream is self.stdout:  # a text-only stdout (tests): decode as we go
                stream = _TextBytes(self.stdout)
            yield stream
            stream.flush()
            return
        try:
            handle: IO[Any] = to.open("wb") if binary else to.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {to}: {exc.strerror}") from None
        with handle:
            yield handle

    def _write_tables(self, rows: Iterable[Any], columns: Sequence[Column], title: str | None) -> int:
        """Tables whose cells wrap; on a terminal too narrow for the columns, one record a row
        (`heading  value` lines, as psql's expanded display), so nothing is ever cut."""
        from rich.table import Table
        from rich.text import Text

        count, chunk = 0, list[Any]()
        console = self._console()
        as_records = console.width < MIN_COLUMN * len(columns) + 1

        def flush() -> None:
            if as_records:
                for row in chunk:
                    grid = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
                    grid.add_column(style="bold", no_wrap=True)
                    grid.add_column(overflow="fold")
                    for column in columns:
                        grid.add_row(Text(column.heading), Text(column.text(row)))
                    console.print(grid)
                    console.print()
            else:
                cells = [[c.text(row) for c in columns] for row in chunk]
                table = Table(title=Text(text.for_terminal(title)) if title and count <= len(chunk) else None)
                headings = [c.heading for c in columns]
                for heading, width in zip(headings, _unbroken_widths([headings, *cells], console.width), strict=True):
                    # a kept column does not wrap, so Rich takes the room it needs from the others
                    table.add_column(Text(heading), overflow="fold", min_width=width, no_wrap=width is not None)
                for line in cells:
                    table.add_row(*(Text(cell) for cell in line))
                console.print(table)
            chunk.clear()

        for row in rows:
            chunk.append(row)
            count += 1
            if len(chunk) >= TABLE_CHUNK:
                flush()
        if chunk:
            flush()
        return count

    def _console(self, stderr: bool = False) -> Any:
        from rich.console import Console

        return Console(
            file=self.stderr if stderr else self.stdout,
            color_system=None if self.no_color else "auto",
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=False,
        )

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr when it is a terminal; otherwise nothing is drawn."""
        if not self.stderr_is_terminal:
            yield _ignore
            return
        from rich.progress import Progress

        with Progress(console=self._console(stderr=True), transient=True) as bar:
            task = bar.add_task(description, total=total)

            def advance(step: int = 1) -> None:
                bar.advance(task, step)

            yield advance


def _ignore(step: int = 1) -> None:
    return None


def _unbroken_widths(cells: list[list[str]], width: int) -> list[int | None]:
    """Short values (times, slugs, statuses) kept on one line, shortest columns first, as long as
    the columns left to wrap keep MIN_COLUMN each; long values wrap in what is left."""
    if not cells:
        return []
    longest = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    kept: list[int | None] = [None] * len(longest)
    used = 3 * len(longest) + 1 + MIN_COLUMN * len(longest)  # borders and padding, and room for each
    for i in sorted(range(len(longest)), key=lambda i: longest[i]):
        n = longest[i]
        if n > SHORT_VALUE or used - MIN_COLUMN + n > width:
            break
        kept[i], used = n, used - MIN_COLUMN + n
    return kept


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _tsv(value: str) -> str:
    """One field of a plain line: tabs and newlines escaped so every row stays one line."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _write_plain(out: Any, rows: Iterable[Any], columns: Sequence[Column]) -> int:
    count = 0
    for row in rows:
        if count == 0:
            out.write("\t".join(c.heading for c in columns) + "\n")
        out.write("\t".join(_tsv(c.plain_text(row)) for c in columns) + "\n")
        count += 1
    return count


def _write_json(out: Any, rows: Iterable[Any]) -> int:
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n  " if count else "\n  ")
        out.write(json_text(to_json(row)))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _write_csv(out: Any, rows: Iterable[Any], keys: Sequence[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    count = 0
    for row in rows:
        writer.writerow([csv_value(_field(row, key)) for key in keys])
        count += 1
    return count


class _TextBytes:
    """A binary face for a text stream (CliRunner's stdout in tests)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()
