"""Settings from the environment and from a `.env` file in the working directory.

The environment wins over `.env`. `EVENTREG_ENV` (or the global `--env`) picks
which URL is used: dev -> DATABASE_URL, test -> DATABASE_URL_TEST,
prod -> DATABASE_URL_PROD.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from eventreg.errors import InvalidInput

ENVIRONMENTS = ("dev", "test", "prod")
URL_VARIABLE = {"dev": "DATABASE_URL", "test": "DATABASE_URL_TEST", "prod": "DATABASE_URL_PROD"}
MIN_PROD_SECRET_BYTES = 32


def parse_dotenv(text: str) -> dict[str, str]:
    """Read KEY=VALUE lines; `export`, comments and single or double quotes allowed."""
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


@dataclass
class Settings:
    env: str
    home: Path
    database_url: str | None
    jwt_secret: str | None
    bcrypt_rounds: int = 12
    token_hours: float = 12.0
    statement_timeout_ms: int = 30_000
    values: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def secret(self) -> str:
        """The JWT signing secret; in embedded mode one is made once and kept 0600."""
        if self.jwt_secret:
            if self.env == "prod" and len(self.jwt_secret.encode()) < MIN_PROD_SECRET_BYTES:
                raise InvalidInput(f"JWT_SECRET must be at least {MIN_PROD_SECRET_BYTES} bytes in --env prod")
            return self.jwt_secret
        if not self.embedded:
            raise InvalidInput("JWT_SECRET is not set (environment or .env)")
        path = self.home / "jwt_secret"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def _int(values: dict[str, str], key: str, default: int) -> int:
    raw = values.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{key} must be a whole number, not {raw!r}") from None


def load_settings(env: str | None = None, cwd: Path | None = None) -> Settings:
    values: dict[str, str] = {}
    dotenv = (cwd or Path.cwd()) / ".env"
    if dotenv.is_file():
        values.update(parse_dotenv(dotenv.read_text(encoding="utf-8")))
    values.update(os.environ)

    chosen = env or values.get("EVENTREG_ENV") or "dev"
    if chosen not in ENVIRONMENTS:
        raise InvalidInput(f"unknown environment {chosen!r}: use one of {', '.join(ENVIRONMENTS)}")
    home = Path(values["EVENTREG_HOME"]).expanduser() if values.get("EVENTREG_HOME") else None
    hours = values.get("EVENTREG_TOKEN_HOURS")
    try:
        token_hours = float(hours) if hours else 12.0
    except ValueError:
        raise InvalidInput(f"EVENTREG_TOKEN_HOURS must be a number, not {hours!r}") from None
    return Settings(
        env=chosen,
        home=home or _default_home(),
        database_url=values.get(URL_VARIABLE[chosen]) or None,
        jwt_secret=values.get("JWT_SECRET") or None,
        bcrypt_rounds=_int(values, "EVENTREG_BCRYPT_ROUNDS", 12),
        token_hours=token_hours,
        statement_timeout_ms=_int(values, "EVENTREG_STATEMENT_TIMEOUT_MS", 30_000),
        values=values,
    )
