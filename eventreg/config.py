"""Settings from the environment and from a `.env` file in the working directory.

The environment wins over `.env`. The environment name (`--env` or EVENTREG_ENV)
picks the database: dev -> DATABASE_URL, test -> DATABASE_URL_TEST, prod ->
DATABASE_URL_PROD. Only `dev` without a URL means the embedded server; any other
environment without its URL is an error that names the variable, before anything
starts. Every value is checked where it is used, with a message naming it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eventreg import private
from eventreg.errors import InvalidInput, Unavailable

ENVIRONMENTS = ("dev", "test", "prod")
URL_VARIABLE = {"dev": "DATABASE_URL", "test": "DATABASE_URL_TEST", "prod": "DATABASE_URL_PROD"}
MIN_SECRET_BYTES = 32
TOKEN_HOURS = (1, 720)
BCRYPT_ROUNDS = (10, 15)
BCRYPT_ROUNDS_TEST = (4, 15)


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines; `export`, comments and single or double quotes allowed."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values


def _default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("eventreg", appauthor=False))


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    values: Mapping[str, str]
    # The process environment alone: what a project's .env must not decide (where a token is sent).
    environ: Mapping[str, str] = field(default_factory=dict)
    # The embedded secret once read: a server signs and checks every request with it.
    _read_secret: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def private(self) -> Path:
        """Where the generated secret and the token fallback live: a folder only its owner may enter."""
        return self.home / "private"

    def get(self, key: str) -> str | None:
        return self.values.get(key) or None

    # -- where the data is ---------------------------------------------------------

    @property
    def url_variable(self) -> str:
        return URL_VARIABLE[self.env]

    @property
    def database_url(self) -> str | None:
        """The configured URL; None means the embedded server (dev only)."""
        url = self.get(self.url_variable)
        if url is None and self.env != "dev":
            raise Unavailable(
                f"--env {self.env} needs {self.url_variable}: set it in the environment or .env "
                "(only --env dev falls back to the embedded server)"
            )
        return url

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def server(self) -> str | None:
        """EVENTREG_SERVER: talk to an eventreg server instead of a database. Read from the
        environment only: a .env in a project folder must not send a student's token elsewhere."""
        return (self.environ.get("EVENTREG_SERVER") or "").strip() or None

    @property
    def insecure(self) -> bool:
        """EVENTREG_INSECURE=1 (environment only): allow http:// to a host other than this machine."""
        return (self.environ.get("EVENTREG_INSECURE") or "").strip().lower() in ("1", "true", "yes")

    # -- limits ----------------------------------------------------------------------

    def number(self, key: str, default: float, low: float, high: float, whole: bool = True) -> float:
        raw = self.get(key)
        if raw is None:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            raise InvalidInput(f"{key} must be a {'whole ' if whole else ''}number, not {raw[:40]!r}") from None
        if not low <= value <= high:
            raise InvalidInput(f"{key} must be between {low:g} and {high:g}, not {raw[:40]}")
        return value

    @property
    def token_hours(self) -> float:
        return self.number("EVENTREG_TOKEN_HOURS", 12, *TOKEN_HOURS, whole=False)

    @property
    def bcrypt_rounds(self) -> int:
        low, high = BCRYPT_ROUNDS_TEST if self.env == "test" else BCRYPT_ROUNDS
        return int(self.number("EVENTREG_BCRYPT_ROUNDS", 12, low, high))

    @property
    def statement_timeout_ms(self) -> int:
        return int(self.number("EVENTREG_STATEMENT_TIMEOUT_MS", 30_000, 100, 3_600_000))

    @property
    def table_lock_wait_ms(self) -> int | None:
        """How long a db runner's statement waits for a table lock (0: as long as it takes)."""
        return int(self.number("EVENTREG_TABLE_LOCK_WAIT_MS", 10_000, 0, 3_600_000)) or None

    @property
    def connect_wait_s(self) -> float:
        """How long a command retries when the server is out of connections."""
        return self.number("EVENTREG_CONNECT_WAIT_S", 10, 0, 300, whole=False)

    # -- the signing secret ----------------------------------------------------------

    def secret(self) -> str:
        """JWT_SECRET (at least 32 bytes); in embedded mode one is made once, kept 0600."""
        configured = self.get("JWT_SECRET")
        if configured:
            if len(configured.encode()) < MIN_SECRET_BYTES:
                raise Unavailable(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
            return configured
        if not self.embedded:
            raise Unavailable(f"JWT_SECRET is not set (environment or .env); {self.url_variable} needs one")
        if self._read_secret:
            return self._read_secret[0]
        path = self.private / "jwt_secret"
        stored = private.read(path)
        if stored is None:
            private.create(path, secrets.token_urlsafe(48))  # two first commands at once keep one secret
            stored = private.read(path)
        assert stored is not None
        if len(stored.strip().encode()) < MIN_SECRET_BYTES:
            raise Unavailable(
                f"{path} holds a secret shorter than {MIN_SECRET_BYTES} bytes: delete it to make a new one"
            )
        self._read_secret.append(stored.strip())
        return stored.strip()


def load_settings(env: str | None = None, cwd: Path | None = None) -> Settings:
    values: dict[str, str] = {}
    dotenv = (cwd or Path.cwd()) / ".env"
    if dotenv.is_file():
        try:
            values.update(parse_dotenv(dotenv.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {dotenv}: {exc}") from None
    values.update(os.environ)
    chosen = env or values.get("EVENTREG_ENV") or "dev"
    if chosen not in ENVIRONMENTS:
        raise InvalidInput(f"unknown environment {chosen[:40]!r}: use one of {', '.join(ENVIRONMENTS)}")
    home = Path(values["EVENTREG_HOME"]).expanduser() if values.get("EVENTREG_HOME") else _default_home()
    return Settings(env=chosen, home=home, values=values, environ=dict(os.environ))
