"""What a down file will destroy, read from its text and counted in the database.

Before `db rollback` asks, it says which tables and columns go and how many rows
they hold now. The statements are recognised by shape (`DROP TABLE`, `ALTER TABLE
... DROP COLUMN`); anything else a down file does is shown as its SQL by
`--dry-run`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql

_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?'
DROP_TABLE = re.compile(rf"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?((?:{_NAME})(?:\s*,\s*{_NAME})*)", re.IGNORECASE)
DROP_COLUMN = re.compile(
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?({_NAME})\s+DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({_NAME})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Loss:
    what: str  # "table registrations" or "column events.waitlist_length"
    rows: int | None  # rows it holds now; None when it does not exist (yet)

    def describe(self) -> str:
        if self.rows is None:
            return f"{self.what} (not in the database)"
        return f"{self.what} ({self.rows} row{'s' if self.rows != 1 else ''})"


def _code(sql_text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql_text.splitlines())


def _unquote(name: str) -> str:
    return name.strip().replace('"', "")


def losses(conn: Any, sql_text: str) -> list[Loss]:
    found: list[Loss] = []
    code = _code(sql_text)
    for match in DROP_TABLE.finditer(code):
        for name in match.group(1).split(","):
            table = _unquote(name)
            found.append(Loss(f"table {table}", _rows(conn, table)))
    for match in DROP_COLUMN.finditer(code):
        if match.group(2).upper() in ("CONSTRAINT", "DEFAULT", "NOT"):
            continue  # ALTER TABLE ... DROP CONSTRAINT / ALTER COLUMN ... DROP DEFAULT lose no data
        table = _unquote(match.group(1))
        found.append(Loss(f"column {table}.{_unquote(match.group(2))}", _rows(conn, table)))
    return found


def _rows(conn: Any, table: str) -> int | None:
    oid = conn.execute("SELECT to_regclass(%s)::oid AS oid", (table,)).fetchone()["oid"]
    if oid is None:
        return None
    row = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
        (oid,),
    ).fetchone()
    query = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(row["nspname"], row["relname"]))
    return int(conn.execute(query).fetchone()["n"])
