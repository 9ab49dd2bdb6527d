"""CSV exports (db/export.py: COPY, made safe as it streams) say exactly what a page of CSV says
(output.csv_value, text.csv_cell), whatever the text and however the rows fall into blocks."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

from eventreg import text
from eventreg.cli.output import csv_value
from eventreg.db import export as db_export
from eventreg.db.export import cell, export

TRICKY = [
    "", "plain", "Ana María", "=1+1", "+1", "-1", "@SUM(A1)", "a=b", " =x", "'=x", "\t=x", "=\tx", "x\n=y",
    "\ufeff=x", "=\u202ex", "emoji \U0001f600", "\u00a0nbsp", "中文", "-", "=", "@", "+", "en – dash", 'say "hi", ok',
    "a\r\nb", "\\.", "\x7f", "\x85", "\u2028",
]  # fmt: skip
ANY_TEXT = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")


@dataclass(frozen=True)
class Sample:
    a: str
    b: str | None
    d: dict[str, Any]
    t: datetime | None


Row = tuple[str, str | None, Any, datetime | None]


def exported(conn: Any, rows: list[Row]) -> list[list[str]]:
    """`rows` through the real export (COPY, then made safe block by block), read back."""
    query = sql.SQL(
        "SELECT a, b, d, t FROM unnest(%(a)s::text[], %(b)s::text[], %(d)s::jsonb[], %(t)s::timestamptz[])"
        " WITH ORDINALITY AS x (a, b, d, t, n) ORDER BY n"
    )
    columns = {k: [r[i] for r in rows] for i, k in enumerate("abdt")}
    columns["d"] = [Jsonb(d) for d in columns["d"]]
    data = b"".join(export(conn, query, columns, Sample)).decode()
    return list(csv.reader(io.StringIO(data)))[1:]


def as_python_writes(conn: Any, rows: list[Row]) -> list[list[str]]:
    """The same rows as a page's CSV writes them (output.csv_value), JSON as read back from jsonb."""
    read = [r["d"] for r in conn.execute("SELECT unnest(%s::jsonb[]) AS d", ([Jsonb(r[2]) for r in rows],))]
    return [
        [csv_value(a), csv_value(b), csv_value(d), csv_value(t)] for (a, b, _, t), d in zip(rows, read, strict=True)
    ]


def texts(values: list[str]) -> list[Row]:
    """Each value in both text cells, the second shifted by one so they differ."""
    return [(v, values[(n + 1) % len(values)], {}, None) for n, v in enumerate(values)]


def test_every_replaced_character_and_formula_start_is_made_safe_as_in_python(conn):
    values = list(TRICKY)
    for c in text.CSV_REPLACED:
        values += [c, f"a{c}b", f"{c}=x", f"={c}", f"x{c}"]
    assert exported(conn, texts(values)) == as_python_writes(conn, texts(values))
    assert [r[0] for r in exported(conn, texts(["=1", "\x1b[2J", "-\u202e"]))] == ["'=1", "\ufffd[2J", "'-\ufffd"]


def test_a_row_is_checked_as_a_whole_and_every_cell_still_gets_its_own_rule(conn):
    at = datetime(2026, 3, 1, 9, 30, 5, 250000, tzinfo=UTC)
    rows: list[Row] = [
        ("plain", "also plain", {}, at),
        ("=SUM(A1)", "plain", {"k": "v"}, None),  # only the first cell needs care
        ("plain", "-1", {}, at),  # only the second
        ("a\x1bb", None, {}, at),
        ("", "", {"reason": "\u202e=x"}, None),  # only the JSON
        ("a,b", 'quote " here', {"to": 3}, at),
        ("line\nbreak", "\\.", {}, at),
    ]
    assert exported(conn, rows) == as_python_writes(conn, rows)


def test_rows_across_many_blocks_keep_their_order_and_only_the_bad_ones_change(conn):
    rows: list[Row] = [(f"person {n}", f"=x{n}" if n % 7 == 0 else f"ok {n}", {"n": n}, None) for n in range(6000)]
    rows[2500] = ("in\nthe middle", "\x85", {"note": "\u2066"}, None)
    rows[4000] = ("only a line\nbreak here", "fine", {}, None)  # nothing else in its block
    rows[5999] = ("last\x01", None, {}, None)
    assert exported(conn, rows) == as_python_writes(conn, rows)


def test_a_block_without_anything_to_replace_goes_out_exactly_as_postgresql_wrote_it():
    block = b'id,name\n1,Ana\n2,"Comma, Person"\n3,en \xe2\x80\x93 dash\n4,\n'
    assert db_export.safe_block(block, 5, [1]) is block
    assert db_export.needs_care(b"1,a\x1bb\n", 1) and db_export.needs_care(b'1,"a\nb"\n', 1)
    assert db_export.needs_care("1,a\u202eb\n".encode(), 1) and db_export.needs_care("1,\u0085\n".encode(), 1)
    assert not db_export.needs_care("1,Zoë – “quoted” €\n".encode(), 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=ANY_TEXT), min_size=1, max_size=30))
def test_any_text_gets_the_same_cell_from_the_export_and_from_python(conn, values):
    assert exported(conn, texts(values)) == as_python_writes(conn, texts(values))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(alphabet=ANY_TEXT), st.one_of(st.none(), st.text(alphabet=ANY_TEXT))), max_size=15))
def test_any_rows_export_as_the_python_path_writes_them(conn, pairs):
    rows: list[Row] = [(a, b, {"n": a[:5]}, None) for a, b in pairs]
    assert exported(conn, rows) == as_python_writes(conn, rows)


def sql_cells(conn: Any, values: list[Any], kind: type, pg_type: str) -> list[str]:
    """Each value through the export's SQL for a column of `kind`, as the CSV cell reads back."""
    query = sql.SQL("SELECT {} AS v FROM unnest(%s::{}[]) WITH ORDINALITY AS q (v, n) ORDER BY n").format(
        cell("v", kind), sql.SQL(pg_type)
    )
    return [row["v"] or "" for row in conn.execute(query, (values,)).fetchall()]


def test_times_read_as_the_python_path_writes_them_whatever_their_fraction(conn):
    """A page's CSV (Python) and --all's (COPY) agree: .250000 stays .250000, no fraction stays none."""
    times = [
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, 5, 250000, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 30, 5, 102000, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, 5, 1, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
    ]  # fmt: skip
    assert sql_cells(conn, times, datetime, "timestamptz") == [csv_value(t) for t in times]
    days = [date(2026, 3, 1), date(1999, 12, 31)]
    assert sql_cells(conn, days, date, "date") == [csv_value(d) for d in days]
    assert sql_cells(conn, [True, False], bool, "boolean") == ["true", "false"]
