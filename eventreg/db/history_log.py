"""The local `migration.history.json` log, appended after each database commit."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_NAME = "migration.history.json"


def log_path(home: Path) -> Path:
    return home / LOG_NAME


def read_log(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []  # a damaged local log never blocks the database, which is the source of truth
    return data if isinstance(data, list) else []


def append_log(path: Path, entry: dict[str, Any]) -> None:
    """Rewrite the log atomically (temp file + rename) with one more entry."""
    entries = read_log(path)
    entries.append({"at": datetime.now(UTC).isoformat(), **entry})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".migration-log-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(entries, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)
