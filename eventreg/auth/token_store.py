"""Where the session token lives: EVENTREG_TOKEN, else the OS keyring, else a 0600 file.

One entry per database (service `eventreg`, user `session:<database key>`), so two
databases never share a token. Every keyring call runs with a timeout, because a
Secret Service can hang on a headless machine.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eventreg.errors import NotLoggedIn

if TYPE_CHECKING:
    from eventreg.config import Settings

SERVICE = "eventreg"
KEYRING_TIMEOUT = 5.0
T = TypeVar("T")


@dataclass
class StoredToken:
    value: str
    source: str  # "environment", "keyring (<backend>)" or "file <path>"


class KeyringUnavailable(Exception):
    pass


def database_key(url: str) -> str:
    """A stable name for a database: host, port, database and user, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        parts = {"raw": url}
    parts.pop("password", None)
    ident = "|".join(f"{key}={parts.get(key, '')}" for key in ("host", "port", "dbname", "user", "raw"))
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _with_timeout(call: Callable[[], T]) -> T:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # surfaced below
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(KEYRING_TIMEOUT)
    if worker.is_alive():
        raise KeyringUnavailable(f"the keyring did not answer within {KEYRING_TIMEOUT:g}s")
    if "error" in box:
        raise KeyringUnavailable(str(box["error"]))
    return box["value"]


def _backend() -> Any:
    """The usable keyring backend, or None (fail/null backends count as none)."""
    import keyring
    from keyring.backends import fail

    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or type(backend).__module__.endswith("null"):
        return None
    return backend


def backend_name() -> str | None:
    backend = _backend()
    return None if backend is None else f"{type(backend).__module__}.{type(backend).__name__}"


def _file(settings: Settings, key: str) -> Path:
    return settings.home / "tokens" / key


def _read_file(path: Path) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise NotLoggedIn(
            f"refusing to read {path}: its permissions are {stat.S_IMODE(info.st_mode):04o}, "
            f"not 0600 (run: chmod 600 {path})"
        )
    return path.read_text().strip() or None


def load(settings: Settings, url: str) -> StoredToken | None:
    env_token = settings.values.get("EVENTREG_TOKEN")
    if env_token:
        return StoredToken(env_token.strip(), "environment (EVENTREG_TOKEN)")
    key = database_key(url)
    backend = _backend()
    if backend is not None:
        try:
            value = _with_timeout(lambda: backend.get_password(SERVICE, f"session:{key}"))
        except KeyringUnavailable:
            value = None
        if value:
            return StoredToken(value, f"keyring ({backend_name()})")
    path = _file(settings, key)
    value = _read_file(path)
    return StoredToken(value, f"file {path}") if value else None


def save(settings: Settings, url: str, token: str) -> str:
    """Store the token; returns where it went."""
    key = database_key(url)
    backend = _backend()
    if backend is not None:
        try:
            _with_timeout(lambda: backend.set_password(SERVICE, f"session:{key}", token))
            _file(settings, key).unlink(missing_ok=True)
            return f"keyring ({backend_name()})"
        except KeyringUnavailable:
            pass
    path = _file(settings, key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return f"file {path}"


def delete(settings: Settings, url: str) -> None:
    key = database_key(url)
    backend = _backend()
    if backend is not None:
        try:
            _with_timeout(lambda: backend.delete_password(SERVICE, f"session:{key}"))
        except KeyringUnavailable:
            pass  # nothing stored there, or the keyring is gone: the file is removed below
    _file(settings, key).unlink(missing_ok=True)
