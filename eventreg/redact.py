"""Keeping secrets out of everything eventreg prints, tracebacks included.

`mask_url` hides the password in every form of connection string (URL, key=value
conninfo, a password in the query string); `redact` removes known secret values
(and their percent-encoded forms) from any text, such as a libpq message or a
`--debug` traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

MASK = "***"
_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE)


def passwords_in(conninfo: str) -> list[str]:
    """The password of a connection string in any form, raw and decoded, as best it can be found."""
    found: list[str] = []
    scheme = conninfo.find("://")
    if scheme >= 0:
        rest = conninfo[scheme + 3 :]
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            found.append(rest[:at].split(":", 1)[1])
    for match in _KEYWORD.finditer(conninfo):
        value = match.group(2)
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            value = value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        found.append(value)
    out: list[str] = []
    for value in found:
        for form in (value, unquote(value), quote(value, safe="")):
            if form and form not in out:
                out.append(form)
    return out


def mask_url(conninfo: str) -> str:
    """The connection string with its password replaced by ***."""
    masked = conninfo
    scheme = masked.find("://")
    if scheme >= 0:
        rest = masked[scheme + 3 :]
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            masked = f"{masked[: scheme + 3]}{user}:{MASK}@{rest[at + 1 :]}"
    masked = _KEYWORD.sub(lambda m: m.group(1) + MASK, masked)
    return redact(masked, passwords_in(conninfo))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret (at least 3 characters, longest first) by ***."""
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
