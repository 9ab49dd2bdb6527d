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
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventreg.cli.output import Output
from eventreg.cli.prompts import Prompter
from eventreg.config import Settings, load_settings
from eventreg.redact import passwords_in

if TYPE_CHECKING:
    from eventreg.api.protocol import Api
    from eventreg.cli.credentials import Credentials


@dataclass
class Invocation:
    env: str | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _out: Output | None = field(default=None, repr=False)
    _prompt: Prompter | None = field(default=None, repr=False)
    _url: str | None = field(default=None, repr=False)
    _credentials: Credentials | None = field(default=None, repr=False)

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

    # -- the user -------------------------------------------------------------------------

    def credentials(self) -> Credentials:
        if self._credentials is None:
            from eventreg.cli.credentials import Credentials, database_key

            self._credentials = Credentials(self.settings, database_key(self.database_url()))
        return self._credentials

    def api(self) -> Api:
        from eventreg.api.local import LocalApi

        credentials = self.credentials()
        return LocalApi(self.settings, self.connections(), credentials.token)

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
        return found
