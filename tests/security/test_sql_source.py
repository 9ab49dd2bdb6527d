"""A check over the source: no SQL is built from values with f-strings, % or .format."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "eventreg"
SQL_WORDS = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(CREATE|DROP|ALTER)\s+(TABLE|INDEX|SEQUENCE|DATABASE|SCHEMA)\b",
    re.I | re.S,
)


def _text_parts(node: ast.AST) -> str:
    return " ".join(
        part.value for part in ast.walk(node) if isinstance(part, ast.Constant) and isinstance(part.value, str)
    )


def offenders(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        built = None
        if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
            built = "f-string"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
            if isinstance(node.left, ast.Constant | ast.JoinedStr) and isinstance(getattr(node.left, "value", ""), str):
                built = "% or + on a string"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
        ):
            built = "str.format"
        if built and SQL_WORDS.search(_text_parts(node)):
            found.append(f"{name}:{node.lineno}: SQL built with {built}")
    return found


def test_the_checker_catches_the_patterns():
    bad = (
        "conn.execute(f\"SELECT * FROM users WHERE email = '{email}'\")\n"
        'conn.execute("DELETE FROM events WHERE id = %s" % event_id)\n'
        "conn.execute(\"UPDATE users SET name = '{}'\".format(name))\n"
        'query = "SELECT id FROM users WHERE name = \'" + name + "\'"\n'
    )
    assert len(offenders(bad, "bad.py")) == 4
    good = 'conn.execute("SELECT * FROM users WHERE email = %s", (email,))\nmessage = f"Registered for {title}"\n'
    assert offenders(good, "good.py") == []


def test_no_sql_is_built_from_values_in_the_package():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += offenders(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert problems == []
