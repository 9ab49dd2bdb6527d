"""The local `migration.history.json` log, appended after each database commit.

Each entry names the database it was applied to (never the password) and the
environment, so one log can serve several databases and `db doctor` can compare
it with a database's own history. A damaged log is never silently replaced: it
is moved aside (`migration.history.json.damaged-<time>`) and the command says so;
the new log starts with a `baseline` entry: what the database's own history held then.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventreg import private
from eventreg.db.connection import target, where

LOG_NAME = "migration.history.json"

# What `replay` reads of each operation; entries of other operations (a failed run, or
# one a newer eventreg writes) are kept as they are and need only an operation.
REPLAYED_FIELDS: dict[str, tuple[str, ...]] = {
    "migrate": ("version", "checksum"),
    "rollback": ("version",),
    "repair": ("version",),
}
VERSION = re.compile(r"[0-9]{1,18}")


class DamagedLog(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is damaged: {reason}")
        self.path = path
        self.reason = reason


def log_path(home: Path) -> Path:
    return home / LOG_NAME


def database_label(url: str) -> str:
    """Which database, in words and without credentials: `eventreg on host db:5432`."""
    parts = target(url)
    if parts is None:
        return "an unreadable connection string"
    return f"{parts['dbname']} on {where(parts)}"


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries; DamagedLog when the file is there but not a JSON list of entries
    that `replay` can read (see entry_problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedLog(path, str(exc)) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DamagedLog(path, f"not JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise DamagedLog(path, "not a list of entries")
    for number, entry in enumerate(data, 1):
        problem = entry_problem(entry)
        if problem is not None:
            raise DamagedLog(path, f"entry {number} {problem}")
    return data


def entry_problem(entry: dict[str, Any]) -> str | None:
    """Why `replay` could not use this entry (a field missing or of the wrong kind), or None."""
    operation = entry.get("operation")
    if not isinstance(operation, str):
        return "has no operation"
    if operation == "baseline":
        applied = entry.get("applied")
        if not isinstance(applied, dict) or not all(_is_version(v) and isinstance(c, str) for v, c in applied.items()):
            return "(baseline) has no valid `applied` (version -> checksum)"
        return None
    wanted = REPLAYED_FIELDS.get(operation, ())
    if operation == "repair" and entry.get("action") == "checksum":
        wanted += ("checksum",)
    for key in wanted:
        value = entry.get(key)
        if not (_is_version(value) if key == "version" else isinstance(value, str)):
            return f"({operation}) has no valid {key}"
    return None


def _is_version(value: Any) -> bool:
    return isinstance(value, str) and VERSION.fullmatch(value) is not None


def set_aside(path: Path) -> tuple[Path, str] | None:
    """Move a damaged log out of the way; returns where it went and why (None when it was fine)."""
    try:
        read_log(path)
        return None
    except DamagedLog as damaged:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = path.with_name(f"{path.name}.damaged-{stamp}")
        os.replace(path, target)
        return target, damaged.reason


def append_log(path: Path, entry: dict[str, Any]) -> tuple[Path, str] | None:
    """Rewrite the log atomically (temp file + rename) with one more entry.

    Returns where (and why) a damaged log was moved before a new one was started, or None."""
    private.make_dirs(path.parent)
    with _exclusive(path):
        moved = set_aside(path)
        entries = read_log(path)
        entries.append({"at": datetime.now(UTC).isoformat(), **entry})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".migration-log-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    return moved


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Two commands on one machine (each on its own database) append one at a time."""
    with open(path.with_name(f".{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def replay(entries: list[dict[str, Any]], database: str) -> dict[str, str] | None:
    """What the log says is applied to `database` (version -> checksum); None if it never saw it.

    `entries` as read_log returns them: each has the fields read here (entry_problem)."""
    applied: dict[str, str] = {}
    seen = False
    for entry in entries:
        if entry.get("database") != database:
            continue
        seen = True
        version, operation = str(entry.get("version")), entry.get("operation")
        if operation == "migrate":
            applied[version] = str(entry.get("checksum"))
        elif operation == "rollback":
            applied.pop(version, None)
        elif operation == "repair" and entry.get("action") == "checksum":
            applied[version] = str(entry.get("checksum"))
        elif operation == "baseline":  # a new log after a damaged one: the database's record then
            applied = {str(v): str(c) for v, c in (entry.get("applied") or {}).items()}
    return applied if seen else None
