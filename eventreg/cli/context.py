"""One invocation of the command line: its settings, where it talks to, how it asks and prints.

Made once by `cli.app.main` and handed to every command as `ctx.obj`, in the way
gh passes its Factory: nothing reaches for a global. Everything is built when
first asked for, so `--help` and `--version` load no settings and import no driver.
The imports inside the methods below are deliberate: the database driver, the
embedded server and the keyring cost a tenth of a second or more each to import,
and only commands that use them should pay for them.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventreg.cli.output import Output
from eventreg.cli.prompts import Prompter
from eventreg.config import Settings, load_settings
from eventreg.redact import passwords_in

if TYPE_CHECKING:
    from eventreg.api.origin import Origin
    from eventreg.api.protocol import Api
    from eventreg.api.remote import RemoteApi
    from eventreg.cli.credentials import Credentials

SERVER_FILE = "server"  # in EVENTREG_HOME: the server `auth login --server` remembered


@dataclass
class Invocation:
    env: str | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _out: Output | None = field(default=None, repr=False)
    _prompt: Prompter | None = field(default=None, repr=False)
    _url: str | None = field(default=None, repr=False)
    _credentials: Credentials | None = field(default=None, repr=False)
    _server: tuple[Origin | None, bool] | None = field(default=None, repr=False)  # (origin, insecure)
    _remote: RemoteApi | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.env)
        return self._settings

    @property
    def out(self) -> Output:
        if self._out is None:
            self._out = Output(no_color=bool(os.environ.get("NO_COLOR")))
        return self._out

    @property
    def prompt(self) -> Prompter:
        if self._prompt is None:
            self._prompt = Prompter()
        return self._prompt

    # -- the database ---------------------------------------------------------------------

    def database_url(self) -> str:
        """The configured database, or the embedded server's (started on first use)."""
        if self._url is None:
            configured = self.settings.database_url
            if configured is None:
                from eventreg.db import embedded

                configured = embedded.start(self.settings.home, announce=self.out.message).url()
            self._url = configured
        return self._url

    def connections(self) -> Callable[[], AbstractContextManager[Any]]:
        """Where units of work get their connection: one per command."""
        from eventreg.db.connection import connect

        url, settings = self.database_url(), self.settings
        return lambda: connect(url, statement_timeout_ms=settings.statement_timeout_ms, wait_s=settings.connect_wait_s)

    def describe_database(self) -> str:
        """Which database a command acts on, password masked: `database x on host h:5432 (--env prod)`."""
        from eventreg.db.connection import describe

        return f"{describe(self.database_url())} (--env {self.settings.env})"

    def require_database(self, what: str = "db commands need") -> None:
        """For the operator's commands: refuse a client set up only for a server (exit 5),
        before anything is asked or started."""
        origin = self.server()
        if origin is not None and self.settings.get(self.settings.url_variable) is None:
            from eventreg.errors import Unavailable

            raise Unavailable(
                f"{what} the database itself ({self.settings.url_variable}); this client talks to the server {origin}"
            )

    def forget_server(self) -> bool:
        """Stop talking to the remembered server (later commands use the database); True if one was."""
        path = self.server_file()
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        self._server, self._credentials, self._remote = None, None, None
        return True

    # -- the server -------------------------------------------------------------------------

    def client_home(self) -> Path:
        """The folder of what decides where a password or token goes: the remembered server
        and the token file. EVENTREG_HOME from the process environment, else the platform's
        folder; never a .env's EVENTREG_HOME (`settings.home`), so a project folder cannot
        plant a server that gets the password, nor collect the token (config.Settings.server)."""
        raw = self.settings.environ.get("EVENTREG_HOME")
        if raw:
            return Path(raw).expanduser()
        from eventreg.config import _default_home

        return _default_home()

    def server_file(self) -> Path:
        """Where `auth login --server` keeps the origin (in `client_home`)."""
        return self.client_home() / SERVER_FILE

    def server(self) -> Origin | None:
        """The server this client talks to: EVENTREG_SERVER, else the one `auth login --server`
        remembered; None means a database. Checked here, at the edge (bad values exit 2)."""
        if self._server is None:
            from eventreg.api.origin import parse_origin

            raw, where, insecure = self.settings.server, "EVENTREG_SERVER", False
            if raw is None:
                path = self.server_file()
                lines = path.read_text(encoding="utf-8").split("\n") if path.is_file() else []
                raw = (lines[0].strip() or None) if lines else None
                where, insecure = f"the server remembered in {path}", "insecure" in lines[1:]
            self._server = (parse_origin(raw, where) if raw else None, insecure)
        return self._server[0]

    def use_server(self, raw: str, insecure: bool) -> Origin:
        """`auth login --server URL`: talk to this server for the rest of the command."""
        from eventreg.api.origin import check_transport, parse_origin

        origin = parse_origin(raw, "--server")
        check_transport(origin, insecure or self.settings.insecure)
        self._server, self._credentials, self._remote = (origin, insecure), None, None
        return origin

    def remember_server(self) -> Path:
        """Keep the server in use for later commands (`auth logout` keeps it; another
        `auth login --server` replaces it). Returns the file."""
        assert self._server is not None and self._server[0] is not None
        origin, insecure = self._server
        path = self.server_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(f"{origin}\n" + ("insecure\n" if insecure else ""), encoding="utf-8")
        partial.replace(path)
        return path

    # -- the user -------------------------------------------------------------------------

    def credentials(self) -> Credentials:
        if self._credentials is None:
            from eventreg.cli.credentials import Credentials, database_key, server_key

            origin = self.server()
            key = server_key(str(origin)) if origin is not None else database_key(self.database_url())
            # The token file lives under client_home, whatever EVENTREG_HOME a .env names.
            self._credentials = Credentials(replace(self.settings, home=self.client_home()), key)
        return self._credentials

    def api(self) -> Api:
        origin = self.server()
        if origin is not None:
            return self._remote_api(origin)
        from eventreg.api.local import LocalApi

        credentials = self.credentials()
        return LocalApi(self.settings, self.connections(), credentials.token)

    def _remote_api(self, origin: Origin) -> RemoteApi:
        """One RemoteApi (one keep-alive connection) for the whole command, closed at its end."""
        if self._remote is None:
            from eventreg.api.origin import check_transport
            from eventreg.api.remote import DEFAULT_TIMEOUT_S, RemoteApi

            assert self._server is not None
            check_transport(origin, self._server[1] or self.settings.insecure)
            timeout = self.settings.number("EVENTREG_SERVER_TIMEOUT_S", DEFAULT_TIMEOUT_S, 0.1, 3600, whole=False)
            self._remote = RemoteApi(origin, self.credentials().token, timeout)
            weakref.finalize(self, self._remote.close)  # the command is over when its invocation goes
        return self._remote

    def secrets(self) -> list[str]:
        """Values no output may show: database passwords, the signing secret, a token."""
        if self._settings is None:
            return []
        found: list[str] = []
        for key in ("DATABASE_URL", "DATABASE_URL_TEST", "DATABASE_URL_PROD"):
            found += passwords_in(self._settings.get(key) or "")
        for key in ("JWT_SECRET", "EVENTREG_TOKEN"):
            value = self._settings.get(key)
            if value:
                found.append(value)
        if self._remote is not None:
            found += self._remote.sent_tokens
        return found
