"""Bulk user import from CSV: every row or none.

The file is read as a stream, a row at a time: each row is checked with the rules
of sign-up and written straight into COPY, so memory stays flat and the load runs
near the speed of psql's \\copy. Any bad row, or an address given twice, stops the
whole import and nothing is written; the first bad rows are named. Addresses that
already have an account are skipped and reported. Imported users have no password
until an admin issues them a reset code.

Two paths, one outcome. The common case, new people only, goes straight into
`users` in one COPY while the file is still being read and checked. When the unique
index refuses a row there (an address given twice, or one that has an account) or a
row is bad, that COPY is rolled back to its savepoint and the careful path runs on
the lines kept meanwhile in an unnamed temporary file (0600, gone when the import
ends): they are read and checked again into a temporary table, where duplicates are
named and existing accounts set aside before the insert. The fast path costs little
more than psql's \\copy; the careful one what the file costs to read twice.
"""

from __future__ import annotations

import csv
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO

from eventreg import audit
from eventreg.db.uow import UnitOfWork
from eventreg.errors import EventregError, InvalidInput
from eventreg.roles import ADMIN, Actor, require
from eventreg.users import repository as users_repo
from eventreg.users import service as users
from eventreg.views import ImportReport, ImportSkip

REQUIRED = ("email", "name")
MAX_ROWS = 1_000_000
MAX_LINE = 4096
REPORTED = 20  # bad rows named in the error
SKIPS_LISTED = 100


class ImportRefused(InvalidInput):
    def __init__(self, bad: list[tuple[int, str]], total: int) -> None:
        named = "; ".join(f"line {line}: {reason}" for line, reason in bad)
        more = f"; and {total - len(bad)} more" if total > len(bad) else ""
        super().__init__(f"{total} bad row(s), nothing was imported: {named}{more}")


def _rows(lines: Iterable[str], bad: list[tuple[int, str]]) -> Iterator[tuple[int, str, str, str]]:
    """(line, email, name, role) of each good row; each bad one goes to `bad` instead."""
    reader = csv.reader(line[:MAX_LINE] for line in lines)
    header = [h.strip().lower().lstrip("\ufeff") for h in next(reader, [])]
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise InvalidInput(f"the CSV needs a header row with {', '.join(REQUIRED)} (and optionally role)")
    # The loop runs once a row (a million times at most): positions and rules looked up once.
    width = len(header)
    at_email, at_name = header.index("email"), header.index("name")
    at_role = header.index("role") if "role" in header else width
    clean_email, clean_name, clean_role = users.clean_email, users.clean_name, users.clean_role
    count = 0
    for fields in reader:
        if not "".join(fields).strip():  # a blank line, or only empty fields
            continue
        count += 1
        if count > MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS:,} rows per import")
        size = len(fields)
        if size > width:
            bad.append((reader.line_num, "more fields than the header"))
            continue
        try:
            email = clean_email(fields[at_email] if at_email < size else "")
            name = clean_name(fields[at_name] if at_name < size else "")
            role = clean_role((fields[at_role].strip() if at_role < size else "") or "student")
        except EventregError as exc:
            bad.append((reader.line_num, exc.message))
            continue
        yield reader.line_num, email, name, role


class _Spool:
    """The file's lines as read, kept in an unnamed temporary file for a second reading."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def keep(self, lines: Iterable[str]) -> Iterator[str]:
        write = self.handle.write
        for line in lines:
            write(line)
            yield line

    def lines(self) -> IO[str]:
        self.handle.seek(0)
        return self.handle  # split on "\n" alone, as the file was (newline="\n")


def import_users(uow: UnitOfWork, actor: Actor, lines: Iterable[str]) -> ImportReport:
    require(actor, ADMIN)
    skipped: list[tuple[int, str]] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n") as handle:
        spool = _Spool(handle)
        seen: list[tuple[int, str]] = []  # bad rows
        try:
            rows = _rows(spool.keep(lines), seen)
            created = users_repo.copy_new_users(
                uow.conn, ((email, name, role) for _, email, name, role in rows), keep=lambda: not seen
            )
            if created is None:  # the careful path: the same lines read and checked again
                deque(rows, maxlen=0)  # every line kept (COPY reads them all anyway)
                bad: list[tuple[int, str]] = []
                loaded = users_repo.load_import(uow.conn, _rows(spool.lines(), bad))
                created, skipped = _carefully(uow, bad)
            else:
                loaded = created
        except csv.Error as exc:
            raise InvalidInput(f"the file is not valid CSV: {exc}") from None
    audit.record(
        uow.conn, "users.imported", actor.id, details={"rows": loaded, "created": created, "skipped": len(skipped)}
    )
    listed = [ImportSkip(line, email, "an account with this email exists") for line, email in skipped[:SKIPS_LISTED]]
    return ImportReport(created=created, skipped=len(skipped), skipped_lines=listed)


def _carefully(uow: UnitOfWork, bad: list[tuple[int, str]]) -> tuple[int, list[tuple[int, str]]]:
    """The loaded rows: refused with every bad row and duplicate named, or inserted with
    the existing accounts set aside."""
    bad.extend(
        (line, f"{email} is also on line {first}") for line, email, first in users_repo.import_duplicates(uow.conn)
    )
    if bad:
        bad.sort()
        raise ImportRefused(bad[:REPORTED], len(bad))
    return users_repo.insert_imported(uow.conn)
