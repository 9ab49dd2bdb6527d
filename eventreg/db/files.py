"""Versioned SQL files shared by the migration and seed runners."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from eventreg.errors import InvalidInput

FILE_PATTERN = re.compile(r"^(\d{4,})_([A-Za-z0-9_\-]+)\.sql$")
NO_TRANSACTION_MARK = "-- eventreg:no-transaction"


def normalise(text: str) -> str:
    """Drop a BOM and unify line endings, so checksums survive editors and checkouts."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SqlFile:
    version: str
    name: str  # file name, e.g. 0001_create_users_table.sql
    path: Path

    def text(self) -> str:
        return normalise(self.path.read_text(encoding="utf-8-sig"))

    def checksum(self) -> str:
        return checksum(self.path.read_text(encoding="utf-8-sig"))

    def header(self, key: str) -> str | None:
        """A `-- key: value` line among the leading comment lines."""
        for line in self.text().splitlines():
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("--"):
                break
            body = stripped[2:].strip()
            if body.lower().startswith(key + ":"):
                return body.split(":", 1)[1].strip()
        return None

    @property
    def no_transaction(self) -> bool:
        return any(line.strip().lower() == NO_TRANSACTION_MARK for line in self.text().splitlines()[:5])


def discover(directory: Path) -> list[SqlFile]:
    """The `NNNN_name.sql` files of a folder in version order; other files are ignored."""
    if not directory.is_dir():
        raise InvalidInput(f"no such folder: {directory}")
    found: dict[str, SqlFile] = {}
    for path in sorted(directory.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if not match or not path.is_file():
            continue
        version = match.group(1)
        if version in found:
            raise InvalidInput(f"two files share version {version}: {found[version].name}, {path.name}")
        found[version] = SqlFile(version=version, name=path.name, path=path)
    return sorted(found.values(), key=lambda f: int(f.version))


def split_statements(sql: str) -> list[str]:
    """Split a no-transaction file on lines that end with `;` (no dollar-quoted bodies)."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip()
            if _has_code(statement):
                statements.append(statement)
            current = []
    rest = "\n".join(current).strip()
    if _has_code(rest):
        statements.append(rest)
    return statements


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())


def packaged_dir(kind: str) -> Path:
    """Folder with the SQL shipped in the wheel, or the repository's own in a checkout."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "_sql" / kind
    if installed.is_dir():
        return installed
    return here.parent / kind


def os_user() -> str:
    """Who ran a migration or seed, for the history tables."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return "unknown"
