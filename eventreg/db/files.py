"""Versioned SQL files shared by the migration and seed runners."""

from __future__ import annotations

import getpass
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
        return normalise(self._read())

    def checksum(self) -> str:
        return checksum(self._read())

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{self.path} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}): save it as UTF-8"
            ) from None

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
    found: dict[int, SqlFile] = {}
    for path in sorted(directory.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if not match or not path.is_file():
            continue
        version = match.group(1)
        number = int(version)  # 0012 and 00012 are one version
        if number in found:
            raise InvalidInput(f"two files share version {number}: {found[number].name}, {path.name}")
        found[number] = SqlFile(version=version, name=path.name, path=path)
    return [found[number] for number in sorted(found)]


def line_at(text: str, position: int) -> int:
    """The line (from 1) of a 1-based character position, as PostgreSQL reports errors."""
    return text.count("\n", 0, max(position - 1, 0)) + 1


def packaged_dir(kind: str) -> Path:
    """Folder with the SQL shipped in the wheel, or the repository's own in a checkout."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "_sql" / kind
    if installed.is_dir():
        return installed
    return here.parent / kind


def os_user() -> str:
    """Who ran a migration or seed, for the history tables."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return "unknown"


def version_number(text: str, option: str = "--to") -> int:
    """A version as typed: `3`, `0003` and `0003_name.sql` all mean 3."""
    match = re.match(r"^\s*(\d+)", text)
    if not match:
        raise InvalidInput(f"{option} takes a migration version such as 3 or 0003, not {text[:40]!r}")
    return int(match.group(1))


def start_folder(directory: Path, shipped: Path) -> int:
    """Copy the shipped up and down files into a folder that has no migrations yet; how many."""
    up, down = directory / "up", directory / "down"
    if up.is_dir() and discover(up):
        return 0
    if down.is_dir() and discover(down):  # never copy over files someone wrote
        raise InvalidInput(f"{down} has migrations but {up} has none: put the up files back first")
    for kind in ("up", "down"):
        (directory / kind).mkdir(parents=True, exist_ok=True)
        for file in discover(shipped / kind):
            (directory / kind / file.name).write_bytes(file.path.read_bytes())
    return len(discover(up))


def new_files(directory: Path, name: str) -> tuple[Path, Path]:
    """The next-numbered pair of up and down files, with a line saying what to write in each."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise InvalidInput("a migration name needs letters or digits")
    up_dir, down_dir = directory / "up", directory / "down"
    up_dir.mkdir(parents=True, exist_ok=True)
    down_dir.mkdir(parents=True, exist_ok=True)
    versions = [int(f.version) for f in discover(up_dir)]
    version = f"{(max(versions, default=0) + 1):04d}"
    up = up_dir / f"{version}_{slug}.sql"
    down = down_dir / f"{version}_{slug}.sql"
    up.write_text(f"-- {up.name}: describe the change here\n", encoding="utf-8")
    down.write_text(f"-- {down.name}: undo {up.name}\n", encoding="utf-8")
    return up, down
