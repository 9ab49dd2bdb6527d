"""Where this client keeps its session token: EVENTREG_TOKEN, else the OS keyring, else a 0600 file.

One entry per place the client talks to (a database, or a server's origin), so a
token made for one is never sent to another: in the keyring, service `eventreg`
and user name `session:<key>`; as a file, EVENTREG_HOME/private/tokens/<key>.

Every keyring call runs in a worker thread with a timeout (EVENTREG_KEYRING_TIMEOUT_S,
5 s by default), because a Secret Service can hang on a headless machine or wait
on an unlock prompt nobody sees. Once a call has timed out, the keyring is not
asked again in this command, so a hanging keyring costs one timeout, not one per
call. When the keyring is missing, fails or hangs, the token goes to a private
file (see `eventreg.private`), login says so, and `auth status` shows it.

Where a token is looked for: EVENTREG_TOKEN; then the file, which exists only when
the keyring could not take the last token (storing in the keyring removes it, and
storing in the file removes what the keyring may still hold), so it is the newer
of the two and a hanging keyring is not asked at all; then the keyring.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from eventreg import private
from eventreg.config import Settings

SERVICE = "eventreg"
DEFAULT_TIMEOUT_S = 5.0
T = TypeVar("T")


class KeyringUnavailable(Exception):
    """The keyring failed, refused or did not answer in time; the cause is chained."""


@dataclass(frozen=True)
class StoredToken:
    value: str
    source: str  # "environment (EVENTREG_TOKEN)", "keyring (<backend>)" or "file <path>"


def database_key(url: str) -> str:
    """A stable name for a database: host, port, database and user, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts: dict[str, Any] = dict(conninfo_to_dict(url))
    except Exception:
        parts = {"raw": url}
    parts.pop("password", None)
    ident = "|".join(f"{key}={parts.get(key, '')}" for key in ("host", "port", "dbname", "user", "raw"))
    return "db-" + hashlib.sha256(ident.encode()).hexdigest()[:16]


def server_key(origin: str) -> str:
    """A stable name for a server: scheme, host and port of its origin (case and default port
    do not matter; a path does not count), so `https://Reg.example.edu/` and
    `https://reg.example.edu:443` share one entry and `http://` on another port does not."""
    from urllib.parse import urlsplit

    ident = origin.strip().lower()
    try:
        parts = urlsplit(origin.strip())
        if parts.scheme and parts.hostname:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower()) or ""
            ident = f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"
    except ValueError:
        pass  # a malformed port: the text itself names the entry
    return "srv-" + hashlib.sha256(ident.encode()).hexdigest()[:16]


class Credentials:
    def __init__(self, settings: Settings, key: str) -> None:
        self.settings = settings
        self.key = key
        self.timeout = settings.number("EVENTREG_KEYRING_TIMEOUT_S", DEFAULT_TIMEOUT_S, 0.1, 60, whole=False)
        self.problem: str | None = None  # why the keyring was not used, once it was not
        self._backend: Any = None
        self._looked = False
        self._hung = False

    @property
    def username(self) -> str:
        return f"session:{self.key}"

    @property
    def file(self) -> Path:
        return self.settings.private / "tokens" / self.key

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one keyring call with the timeout; any failure becomes KeyringUnavailable."""
        if self._hung:
            raise KeyringUnavailable(self.problem)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = call()
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        # A daemon thread: one stuck in a hung D-Bus call never keeps the command from exiting.
        worker = threading.Thread(target=run, name=f"keyring: {what}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            self._hung = True
            self.problem = f"the OS keyring did not answer within {self.timeout:g}s (EVENTREG_KEYRING_TIMEOUT_S)"
            raise KeyringUnavailable(self.problem)
        if "error" in box:
            error = box["error"]
            detail = str(error).strip()[:200] or type(error).__name__
            self.problem = f"the OS keyring could not {what}: {detail}"
            raise KeyringUnavailable(self.problem) from error
        value: T = box["value"]
        return value

    def backend(self) -> Any:
        """The usable keyring backend, or None (the fail and null backends count as none)."""
        if not self._looked:
            self._looked = True
            try:
                self._backend = self._call("start", _find_backend)
            except KeyringUnavailable:
                self._backend = None
            if self._backend is None and self.problem is None:
                self.problem = "no OS keyring is available (no Secret Service, KWallet or similar)"
        return self._backend

    def backend_name(self) -> str:
        return _name(self.backend()) if self.backend() is not None else "none"

    def load(self) -> StoredToken | None:
        env_token = self.settings.environ.get("EVENTREG_TOKEN")  # never from a .env: see config.Settings.server
        if env_token:
            return StoredToken(env_token.strip(), "environment (EVENTREG_TOKEN)")
        stored = private.read(self.file)
        if stored and stored.strip():
            return StoredToken(stored.strip(), f"file {self.file}")
        backend = self.backend()
        if backend is not None:
            try:
                value = self._call("read the token", lambda: backend.get_password(SERVICE, self.username))
            except KeyringUnavailable:
                return None
            if value:
                return StoredToken(value, f"keyring ({self.backend_name()})")
        return None

    def token(self) -> str | None:
        stored = self.load()
        return stored.value if stored else None

    def save(self, token: str) -> str:
        """Store the token: in the keyring, else in the file (`self.problem` says why). Returns
        where it went, as `auth status` shows it."""
        backend = self.backend()
        if backend is not None:
            try:
                self._call("store the token", lambda: backend.set_password(SERVICE, self.username, token))
            except KeyringUnavailable:
                pass
            else:
                private.remove(self.file)
                return f"keyring ({self.backend_name()})"
        private.write(self.file, token)
        if backend is not None and not self._hung:
            # An older token the keyring still holds must not come back once it answers again.
            reason = self.problem
            try:
                self._call("delete the old token", lambda: backend.delete_password(SERVICE, self.username))
            except KeyringUnavailable:
                self.problem = reason  # why the token is in the file is what matters
        return f"file {self.file}"

    def delete(self) -> str | None:
        """Forget the token: the file, then the keyring entry. Returns a warning when the
        keyring could not be asked, so its copy may remain (the session itself has ended)."""
        private.remove(self.file)
        backend = self.backend()
        if backend is None:
            return None
        reason = self.problem
        try:
            self._call("delete the token", lambda: backend.delete_password(SERVICE, self.username))
        except KeyringUnavailable as exc:
            from keyring.errors import PasswordDeleteError

            if isinstance(exc.__cause__, PasswordDeleteError):
                self.problem = reason  # nothing was stored there: not a problem
                return None
            return f"{self.problem}; a copy of the token may remain in it"
        return None


def _name(backend: Any) -> str:
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    members = getattr(backend, "backends", None)
    if members and type(backend).__name__ == "ChainerBackend":
        name += ": " + ", ".join(_name(member) for member in members)
    return name


def _find_backend() -> Any:
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or type(backend).__module__.endswith("null"):
        return None
    if type(backend).__name__ == "ChainerBackend" and not getattr(backend, "backends", None):
        return None
    return backend
