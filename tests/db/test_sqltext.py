"""Statements read as PostgreSQL reads them: the split of no-transaction files, and the
refusal of files that would control the runner's transaction."""

from __future__ import annotations

import pytest

from eventreg.db.sqltext import check_runnable, statements
from eventreg.errors import InvalidInput


def texts(sql: str) -> list[str]:
    return [s.text for s in statements(sql)]


def test_semicolons_inside_quotes_comments_and_bodies_do_not_split():
    sql = (
        "-- a comment; still a comment\n"
        "SELECT 'a;b', E'it\\'s;', \"odd;name\" FROM t; /* one; /* nested; */ two; */\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;\n"
        "CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
        "  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2;\n"
        "END;\n"
        "SELECT $1::int, a$b FROM t2"
    )
    assert texts(sql) == [
        "SELECT 'a;b', E'it\\'s;', \"odd;name\" FROM t;",
        "DO $$ BEGIN PERFORM 1; END $$;",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;",
        "CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
        "  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2;\nEND;",
        "SELECT $1::int, a$b FROM t2",
    ]


def test_each_statement_knows_its_line_and_two_on_one_line_are_two():
    found = statements("-- header\n\nCREATE INDEX a ON t (x); CREATE INDEX b ON t (y);\n\n  SELECT 1;\n")
    assert [(s.line, s.text) for s in found] == [
        (3, "CREATE INDEX a ON t (x);"),
        (3, "CREATE INDEX b ON t (y);"),
        (5, "SELECT 1;"),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;",
        "CREATE TABLE t (id int);\ncommit;",
        "START TRANSACTION; SELECT 1;",
        "SELECT 1; END;",
        "SELECT 1; ROLLBACK;",
        "SAVEPOINT s; SELECT 1; RELEASE SAVEPOINT s;",
        "PREPARE TRANSACTION 'x';",
        "/* c */ Begin ; SELECT 1;",
        # what a reviewer got past the first version: tags and names with characters above U+FFFF,
        # and the words begin and atomic side by side outside a function
        "CREATE TABLE leaked (id int);\nSELECT $\U0001f600$ $$ $\U0001f600$;\nCOMMIT;\n"
        "SELECT $\U0001f600$ $$ $\U0001f600$;",
        "SELECT 1 AS x\U0001f600$$; COMMIT; SELECT 1 AS y\U0001f600$$;",
        "CREATE TABLE t (begin int, atomic int); SELECT begin, atomic FROM t; COMMIT; SELECT 1;",
        "SELECT begin atomic FROM t; COMMIT;",
    ],
)
def test_a_file_that_controls_transactions_is_refused_naming_the_line(sql):
    with pytest.raises(InvalidInput, match=r"0012_x.sql line \d+: \w+ controls the transaction"):
        check_runnable("0012_x.sql", sql)


@pytest.mark.parametrize(
    "sql",
    [
        "DO $$ BEGIN COMMIT; END $$;",  # a body is the server's business, not a statement of the file
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS 'BEGIN END';",
        "PREPARE q AS SELECT 1;",
        "SELECT 'BEGIN;'; -- COMMIT;\n",
        'CREATE TABLE begin_end ("commit" int);',
    ],
)
def test_bodies_strings_comments_and_names_are_not_transaction_control(sql):
    check_runnable("0012_x.sql", sql)


@pytest.mark.parametrize("sql", ["", "-- 0012_x.sql: describe the change here\n", "/* nothing */\n\n"])
def test_a_file_with_no_statement_is_refused(sql):
    with pytest.raises(InvalidInput, match="0012_x.sql has no SQL statement"):
        check_runnable("0012_x.sql", sql)


def test_semicolons_inside_parentheses_do_not_split_a_rule():
    sql = (
        "CREATE RULE fanout AS ON INSERT TO note_in DO ALSO "
        "(INSERT INTO note_a VALUES (NEW.id); INSERT INTO note_b VALUES (NEW.id));\nSELECT 1;"
    )
    assert len(statements(sql)) == 2


@pytest.mark.parametrize(
    "sql", ["SET standard_conforming_strings = off;", "set session standard_conforming_strings to off;"]
)
def test_a_file_that_changes_how_strings_are_read_is_refused(sql):
    with pytest.raises(InvalidInput, match="standard_conforming_strings changes how the rest of the file is read"):
        check_runnable("0012_x.sql", sql)
