"""Bulk user import from CSV: all rows or none.

Rows are checked in Python with the same rules as sign-up, loaded with COPY into a
temporary table, and inserted in one statement inside one transaction. Any bad row
stops the whole import and every bad row is reported. Emails that already have an
account are skipped (and reported). Imported users have no password until an admin
issues them a reset code (`eventreg admin users reset-code`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventreg.access import ADMIN
from eventreg.audit import record
from eventreg.auth.service import Actor, require
from eventreg.errors import EventregError, InvalidInput
from eventreg.users import service as users

REQUIRED = ("email", "name")
MAX_ROWS = 1_000_000


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, email, reason)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


class ImportRefused(InvalidInput):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.bad)} bad row(s): nothing was imported")
        self.report = report


def parse(text: str, report: ImportReport) -> list[tuple[int, str, str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [h for h in REQUIRED if h not in headers]
    if missing:
        raise InvalidInput(f"the CSV needs a header row with {', '.join(REQUIRED)} (and optionally role)")
    reader.fieldnames = headers
    rows: list[tuple[int, str, str, str]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS:,} rows per import")
        if None in row:
            report.bad.append((line, "more fields than the header"))
            continue
        try:
            email = users.clean_email(row.get("email") or "")
            name = users.clean_name(row.get("name") or "")
            role = users.clean_role((row.get("role") or "student").strip() or "student")
        except EventregError as exc:
            report.bad.append((line, exc.message))
            continue
        key = email.lower()
        if key in seen:
            report.bad.append((line, f"{email} is also on line {seen[key]}"))
            continue
        seen[key] = line
        rows.append((line, email, name, role))
    return rows


def import_users(conn: Any, actor: Actor, text: str, advance: Callable[[int], None] = lambda n: None) -> ImportReport:
    require(actor, ADMIN)
    report = ImportReport()
    rows = parse(text, report)
    if report.bad:
        raise ImportRefused(report)
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE user_import (line int, email text, name text, role text) ON COMMIT DROP")
        with conn.cursor() as cur, cur.copy("COPY user_import (line, email, name, role) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                advance(1)
        skipped = conn.execute(
            "SELECT i.line, i.email FROM user_import i"
            " WHERE EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(i.email)) ORDER BY i.line"
        ).fetchall()
        created = conn.execute(
            "INSERT INTO users (email, name, role)"
            " SELECT email, name, role FROM user_import i"
            " WHERE NOT EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(i.email))"
            " ORDER BY line RETURNING email"
        ).fetchall()
        record(conn, "users.imported", actor.id, details={"created": len(created), "skipped": len(skipped)})
    report.created = [r["email"] for r in created]
    report.skipped = [(r["line"], r["email"], "an account with this email exists") for r in skipped]
    return report
