"""CSV exports straight from PostgreSQL: `COPY (query) TO STDOUT`, streamed in blocks.

PostgreSQL formats the CSV, so an export of a million rows runs near the speed of
psql's `\\copy` with flat memory. Times are ISO 8601 in UTC (datetime.isoformat's
text), booleans true/false, as in --json; an empty text is an empty cell.

Cells are made safe by the rule of `text.csv_cell`, the one a page of CSV is
written with (tests hold the two paths to each other): control and bidi
characters become U+FFFD, and a text cell that starts with =, +, - or @ gets a
leading ' so a spreadsheet shows it instead of running it (OWASP's rule; a
leading tab or CR is a control character and is replaced). The work is split so
that each half runs where it is cheap:

- PostgreSQL puts the ' before a text that starts like a formula, reading only
  its first character (`ascii()`);
- Python looks at the CSV as it streams, 64 KiB at a time, with byte operations
  that run at memory speed (`bytes.translate`, `count`). A block without control
  characters, other replaced characters or line breaks inside cells, which is
  nearly every block, goes out as it came. In a block that has one, the rows that
  need it are read with the csv module, their text cells made safe by
  `text.csv_cell` itself, and written again.

The two halves compose to the rule: `csv_cell` of a text that already has its '
is `csv_cell` of the text. Scanning every character for ~80 replaced ones in SQL
(translate(), or a regular expression) cost 1.5 to 7 us a row on the database,
seconds of a million-row export; the scan here costs some 0.2 us a row.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from psycopg import sql

from eventreg.text import csv_block_has_replaced, csv_cell

BLOCK = 64 * 1024  # bytes handed on at a time
FORMULA_CODES = sql.SQL("43, 45, 61, 64")  # + - = @


def base_type(kind: Any) -> Any:
    """The type of a field without its None: `str | None` is str, `dict[str, Any]` a dict
    (not its first argument, str)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def is_text(kind: Any) -> bool:
    """Text cells hold user text: str, and JSON (its text is json.dumps', ", " and ": ")."""
    base = base_type(kind)
    return base is str or base is dict or typing.get_origin(base) is dict


def cell(column: str, kind: Any) -> sql.Composable:
    """The SQL that turns one column of a view into its CSV text (a text cell's control and
    bidi characters are replaced as the CSV streams, see `safe_blocks`)."""
    ident = sql.Identifier("q", column)
    base = base_type(kind)
    if base is datetime:
        # datetime.isoformat(): six digits of fraction, or none when it is zero (to_json would
        # trim the zeros of .250000 to .25, and a page's CSV would differ from --all's)
        return sql.SQL("replace(to_char({}, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM'), '.000000', '')").format(ident)
    if is_text(kind):
        value = ident if base is str else sql.SQL("({})::text").format(ident)
        return sql.SQL("CASE WHEN ascii({v}) IN ({codes}) THEN '''' || {v} ELSE NULLIF({v}, '') END").format(
            v=value, codes=FORMULA_CODES
        )
    if base in (bool, date):
        return sql.SQL("{}::text").format(ident)
    return ident


def copy_statement(query: sql.Composable, view: type) -> sql.Composable:
    hints = typing.get_type_hints(view)
    columns = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(cell(f.name, hints[f.name]), sql.Identifier(f.name))
        for f in dataclasses.fields(view)
    )
    return sql.SQL("COPY (SELECT {} FROM ({}) q) TO STDOUT WITH (FORMAT csv, HEADER)").format(columns, query)


def text_columns(view: type) -> list[int]:
    hints = typing.get_type_hints(view)
    return [n for n, f in enumerate(dataclasses.fields(view)) if is_text(hints[f.name])]


def export(conn: Any, query: sql.Composable, params: Mapping[str, Any], view: type) -> Iterator[bytes]:
    """Every row of `query` (whose columns are named like the fields of `view`) as CSV blocks.

    COPY sends a row at a time; rows are gathered into blocks of about 64 KiB, so the
    writer is called some 2,000 times for a million rows instead of a million."""
    texts = text_columns(view)
    encoding = codecs.lookup(conn.info.encoding).name
    pending, rows = bytearray(), 0
    with conn.cursor() as cur, cur.copy(copy_statement(query, view), params) as copy:
        for row in copy:
            pending += row
            rows += 1
            if len(pending) >= BLOCK:
                yield safe_block(bytes(pending), rows, texts, encoding)
                pending.clear()
                rows = 0
    if pending:
        yield safe_block(bytes(pending), rows, texts, encoding)


def needs_care(block: bytes, rows: int, encoding: str = "utf-8") -> bool:
    """Whether any row of a block of `rows` CSV rows holds a character csv_cell replaces
    (the byte tests know UTF-8; a client encoding other than UTF-8 is looked at by text)."""
    return encoding != "utf-8" or csv_block_has_replaced(block, rows)


def safe_block(block: bytes, rows: int, texts: Sequence[int], encoding: str = "utf-8") -> bytes:
    """The block with the text cells of each row that needs it made safe by csv_cell; the
    other rows exactly as PostgreSQL wrote them."""
    if not needs_care(block, rows, encoding):
        return block
    lines = block.decode(encoding).split("\n")[:-1]  # the block ends a row, so with "\n"
    reader = csv.reader(line + "\n" for line in lines)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    start = 0
    for record in reader:
        end = reader.line_num
        made_safe = [csv_cell(v) if n in texts else v for n, v in enumerate(record)]
        if made_safe != record:
            writer.writerow(made_safe)
        else:
            out.write("".join(line + "\n" for line in lines[start:end]))
        start = end
    return out.getvalue().encode()  # UTF-8, as a page of CSV is written, whatever the client encoding
