"""The address of an eventreg server, checked where the user gives it.

An origin is a scheme, a host and a port, nothing more: a token is sent to exactly
that, so whatever else a URL may carry (a user name and password, a path, a query)
is refused rather than dropped silently. Plain `http://` is refused for any host
but this machine's loopback, because the session token and passwords would cross
the network in clear; `--insecure` (auth login) or EVENTREG_INSECURE=1 accepts that.

Only the standard library's URL parser is used here, so checking a configuration
costs nothing at start-up.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from eventreg.errors import InvalidInput

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class Origin:
    scheme: str  # http | https
    host: str  # lower case; an IPv6 address without its brackets
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def loopback(self) -> bool:
        if self.host in LOOPBACK_NAMES or self.host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_origin(raw: str, where: str) -> Origin:
    """Check a server address (`where` names its source for the message: `--server`,
    `EVENTREG_SERVER`, a file). The address itself is echoed only when it holds no
    user information, which could be a password."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise InvalidInput(f"{where} is not a URL: give a server as https://host[:port]") from None
    shown = "" if "@" in text else f" {text[:80]!r}"
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise InvalidInput(f"{where}{shown} must start with https:// (or http:// for this machine)")
    if "@" in parts.netloc:
        raise InvalidInput(f"{where} must not hold a user name or password: give https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise InvalidInput(f"{where}{shown} must be an origin only (https://host[:port]), with no path or query")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{where}{shown} has a bad port: give a number from 1 to 65535") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidInput(f"{where}{shown} names no host: give https://host[:port]")
    if port == 0 or parts.netloc.endswith(":"):
        raise InvalidInput(f"{where}{shown} has a bad port: give a number from 1 to 65535")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise InvalidInput(f"{where}{shown} has a bad IPv6 address in brackets") from None
    elif not all(c.isascii() and (c.isalnum() or c in "-.") for c in host):
        raise InvalidInput(f"{where}{shown} has a bad host name (an international name goes in its xn-- form)")
    scheme = parts.scheme.lower()
    return Origin(scheme, host, port or DEFAULT_PORTS[scheme])


def check_transport(origin: Origin, insecure: bool) -> None:
    """Refuse to send a token in clear over a network (InvalidInput, exit 2)."""
    if origin.scheme == "http" and not origin.loopback and not insecure:
        raise InvalidInput(
            f"refusing {origin}: over http:// a session token and passwords would travel in clear, so "
            "anyone on the network could read and use them. Use https://, or accept the risk with "
            "--insecure (auth login) or EVENTREG_INSECURE=1"
        )
