"""RemoteApi: the `Api` seam over HTTP, for a client that talks to an `eventreg serve` server.

Each method is one request (the contract is /tmp/spec/server-spec.md, kept in the
README): JSON in, `views.from_json` out, and an RFC 9457 problem turned back into
the error the local path raises (`errors.from_problem`), so a command prints the
same and exits with the same code either way.

The connection. One keep-alive connection serves a whole command (`--all` walks
many pages over it). A server may close a connection that sat idle; before each
request the socket is checked, and a closed one is replaced before anything is
sent. A GET that fails on a reused connection is sent once more on a new one; a
POST, PATCH, PUT or DELETE that may have reached the server never is, since the
server may have done it: the error says so.

Time. Every request has a deadline (EVENTREG_SERVER_TIMEOUT_S, 60 s by default)
that covers connecting (each address tried, and the TLS handshake), sending, and
reading the status line, the headers and the whole body; each socket wait gets
only what is left of it: the connection is opened by `_open`, and an answer is
read through `_TimedReader`, which sets the socket's timeout to what is left
before every receive. So a server that trickles bytes (a header byte every
second, a chunk size digit by digit) cannot stretch it.
The two streams, an export read and an import sent, may take as long as they
need while blocks keep moving: the deadline then applies to each block (and to
the answer once an import's body is sent).

What is refused. Anything but a JSON answer (or CSV for an export), a problem
document or an expected status is `Unavailable` naming the server (exit 5): a
redirect, an HTML page from a proxy, a 502. JSON answers over 16 MiB are refused,
and so are JSON that is not UTF-8, nests deeper than this client reads, or does not
have the shape of its type; a page cursor that comes back a second time (a server
sending `--all` round in circles). No error message carries the session token.

What is not trusted. A server's text is held to the rules of the local path: a
lone surrogate in a JSON string ("\\ud800", which no terminal or file can take)
becomes U+FFFD, and an export's CSV is parsed as it streams and every cell made
safe again by `text.csv_cell` (a cell our own server already made safe stays as
it is), so `--all --csv` through a server writes what it writes locally.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import functools
import http.client
import io
import json
import re
import select
import socket
import ssl
import sys
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from eventreg import __version__
from eventreg.api.origin import Origin
from eventreg.errors import EventregError, NotLoggedIn, Unavailable, from_problem
from eventreg.text import csv_block_has_replaced, csv_cell
from eventreg.views import (
    AdminUser,
    AttendanceQuery,
    Attendee,
    Cancellation,
    CapacityChange,
    CheckIn,
    Enrolment,
    Event,
    EventCancellation,
    EventChanges,
    EventDraft,
    EventsQuery,
    EventStats,
    EventUpdate,
    HistoryEntry,
    HistoryQuery,
    ImportReport,
    ListQuery,
    Login,
    MineQuery,
    MyRegistration,
    Organiser,
    Page,
    Profile,
    Question,
    Registration,
    RegistrationsQuery,
    SessionInfo,
    User,
    UserChange,
    UsersQuery,
    WaitlistChange,
    WaitlistEntry,
    WaitlistQuery,
    field_types,
    from_json,
    to_json,
)

TokenSource = Callable[[], str | None]

DEFAULT_TIMEOUT_S = 60.0
MAX_JSON_BYTES = 16 * 2**20
MAX_DEPTH = 32  # how deep a JSON value inside an answer (an audit entry's details) may nest
MAX_CSV_LINE = 16 * 2**20  # characters of one line of an export
BLOCK = 64 * 1024
SAFE_TO_REPEAT = frozenset({"GET", "HEAD"})
BOOTSTRAP_REFUSED = "admin bootstrap needs the database itself: an operator runs it with DATABASE_URL set"
Query = dict[str, str | int | bool | None]


def ref(value: str) -> str:
    """An event or user reference as one path segment (an email's @ and a slash included)."""
    return quote(value, safe="")


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        return self.ends - time.monotonic()

    def restart(self) -> None:
        """A new full period (a stream: the limit applies to each block)."""
        self.ends = time.monotonic() + self.seconds

    def wait(self) -> float:
        """What a socket wait may take now; TimeoutError once nothing is left (a timeout
        of 0 would make the socket non-blocking, not expire)."""
        left = self.left()
        if left <= 0:
            raise TimeoutError("the deadline has passed")
        return left


def _open(host: str, port: int, deadline: _Deadline) -> socket.socket:
    """socket.create_connection within the deadline: each address tried gets only what is
    left (not the whole limit each), and the socket comes back with what is left, for the
    TLS handshake that may follow."""
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.wait())
            sock.connect(address)
            sock.settimeout(deadline.wait())
        except OSError as exc:
            sock.close()
            if deadline.left() <= 0:
                raise TimeoutError("the deadline has passed while connecting") from None
            error = exc
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error or OSError("the host name has no address")


class _Connection(http.client.HTTPConnection):
    """HTTP whose connecting keeps to the deadline of the request that opens it."""

    deadline: _Deadline

    def connect(self) -> None:
        sys.audit("http.client.connect", self, self.host, self.port)
        self.sock = _open(self.host, self.port, self.deadline)


class _TLSConnection(http.client.HTTPSConnection, _Connection):
    """HTTPS: HTTPSConnection.connect wraps what `_Connection.connect` opened (next in the
    method order), and the handshake gets the socket's timeout: what is left of the deadline."""


class _TimedReader(io.RawIOBase):
    """The reading side of a socket where every receive waits only for what is left of the
    deadline: a status line or header arriving a byte at a time cannot outlast it."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # keeps the socket open until closed, as http.client expects
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._deadline.wait())
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _TimedResponse(http.client.HTTPResponse):
    """An answer read through `_TimedReader`: status line, headers and body within the deadline."""

    def __init__(
        self, sock: socket.socket, debuglevel: int = 0, method: str | None = None, url: str | None = None, *,
        deadline: _Deadline,
    ) -> None:  # fmt: skip
        super().__init__(sock, debuglevel, method, url)
        self.fp.close()  # the plain reader http.client made (nothing read from it yet)
        self.fp = io.BufferedReader(_TimedReader(sock, deadline))


def _expect(conn: http.client.HTTPConnection, deadline: _Deadline) -> None:
    """The next getresponse() reads its answer within `deadline`."""
    conn.response_class = typing.cast(
        type[http.client.HTTPResponse], functools.partial(_TimedResponse, deadline=deadline)
    )


class RemoteApi:
    def __init__(self, origin: Origin, token: TokenSource, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.origin = origin
        self._token = token
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self.sent_tokens: list[str] = []  # what no message may show (the invocation redacts them too)
        self._cursors: dict[str, set[str]] = {}  # the cursors of the walk through each list so far

    # -- the connection ---------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self, deadline: _Deadline) -> http.client.HTTPConnection:
        """The command's connection: the open one unless the server has closed it meanwhile."""
        if self._conn is not None and self._conn.sock is not None and not _dropped(self._conn.sock):
            return self._conn
        self.close()
        conn: _Connection
        if self.origin.scheme == "https":
            conn = _TLSConnection(
                self.origin.host, self.origin.port, timeout=self._left(deadline), context=ssl.create_default_context()
            )
        else:
            conn = _Connection(self.origin.host, self.origin.port, timeout=self._left(deadline))
        conn.deadline = deadline
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise Unavailable(
                f"the server {self.origin} has a TLS certificate this machine does not trust: "
                f"{exc.verify_message or exc.reason}"
            ) from None
        except TimeoutError:
            conn.close()
            raise self._timed_out("connecting") from None
        except OSError as exc:
            conn.close()
            raise Unavailable(f"cannot reach the server {self.origin}: {_reason(exc)}") from None
        self._conn = conn
        return conn

    def _left(self, deadline: _Deadline) -> float:
        left = deadline.left()
        if left <= 0:
            self.close()
            raise self._timed_out("waiting")
        return left

    def _wait(self, deadline: _Deadline) -> None:
        """Give the next socket operation only what is left of the deadline."""
        left = self._left(deadline)
        if self._conn is not None and self._conn.sock is not None:
            self._conn.sock.settimeout(left)

    def _timed_out(self, doing: str) -> Unavailable:
        return Unavailable(
            f"the server {self.origin} did not answer within {self.timeout_s:g}s ({doing}; "
            "EVENTREG_SERVER_TIMEOUT_S sets the limit)"
        )

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"eventreg/{__version__}"}
        token = self._token()
        if token:
            if not token.isascii() or not token.isprintable() or " " in token:
                raise NotLoggedIn("the stored session token is malformed: log in again (eventreg auth login)")
            if token not in self.sent_tokens:
                self.sent_tokens.append(token)
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra or {})
        return headers

    def _send(
        self, method: str, path: str, query: Query | None = None, body: Any = None
    ) -> tuple[http.client.HTTPResponse, _Deadline]:
        """Send one request and read the status line and headers of its answer."""
        deadline = _Deadline(self.timeout_s)
        target = path + ("?" + urlencode(_params(query)) if query else "")
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = self._headers({"Content-Type": "application/json"} if payload is not None else None)
        for attempt in (1, 2):
            conn = self._connect(deadline)
            reused = attempt == 1 and _served(conn)  # kept alive since an earlier request
            try:
                self._wait(deadline)
                conn.request(method, target, body=payload, headers=headers)
                self._wait(deadline)
                _expect(conn, deadline)
                response = conn.getresponse()
            except TimeoutError:
                self.close()
                raise self._timed_out("waiting for the answer") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and method in SAFE_TO_REPEAT:
                    continue  # the server closed the kept-alive connection as the request went out
                if method not in SAFE_TO_REPEAT:
                    raise Unavailable(
                        f"the connection to the server {self.origin} broke after the request was sent "
                        f"({_reason(exc)}); it may have been carried out: look before trying again"
                    ) from None
                raise Unavailable(f"the server {self.origin} broke off the connection: {_reason(exc)}") from None
            _mark_served(conn)
            return response, deadline
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, response: http.client.HTTPResponse, deadline: _Deadline, limit: int = MAX_JSON_BYTES) -> bytes:
        """The whole body, within the deadline and the size limit."""
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            self.close()
            raise self._too_big(limit)
        blocks, size = [], 0
        try:
            while True:
                self._wait(deadline)
                block = response.read1(BLOCK)
                if not block:
                    break
                size += len(block)
                if size > limit:
                    self.close()
                    raise self._too_big(limit)
                blocks.append(block)
        except TimeoutError:
            self.close()
            raise self._timed_out("reading the answer") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unavailable(f"the answer of the server {self.origin} broke off: {_reason(exc)}") from None
        if response.length:  # fewer bytes than Content-Length said
            self.close()
            raise Unavailable(f"the answer of the server {self.origin} broke off before its end")
        response.close()  # read to its end: the connection is ready for the next request
        if response.will_close:
            self.close()
        return b"".join(blocks)

    def _too_big(self, limit: int) -> Unavailable:
        return Unavailable(f"the server {self.origin} sent an answer over {limit // 2**20} MiB; refused")

    # -- answers ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, query: Query | None = None, body: Any = None) -> Any:
        """One request; the JSON of a 200 or 201 answer, None for 204; anything else raises."""
        response, deadline = self._send(method, path, query, body)
        return self._answer(response, deadline)

    def _answer(self, response: http.client.HTTPResponse, deadline: _Deadline) -> Any:
        status, kind = response.status, _media_type(response)
        if status >= 400 and kind == "application/problem+json":
            raise self._problem(response, self._read(response, deadline))
        if status == 204:
            self._read(response, deadline, limit=0)
            return None
        if status not in (200, 201) or kind != "application/json":
            raise self._unexpected(response)
        raw = self._read(response, deadline)
        try:
            return _parse_json(raw)
        except (ValueError, RecursionError):  # not UTF-8 (UnicodeError is a ValueError), not JSON, too deep
            raise Unavailable(f"the server {self.origin} sent JSON that does not parse") from None

    def _problem(self, response: http.client.HTTPResponse, raw: bytes) -> EventregError:
        try:
            document = _parse_json(raw)
            problem_type, detail = document["type"], document.get("detail") or document.get("title")
            if not isinstance(problem_type, str) or not isinstance(detail, str):
                raise TypeError(problem_type)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return Unavailable(f"the server {self.origin} answered {response.status} with a malformed problem")
        return from_problem(problem_type, response.status, self._scrub(detail))

    def _unexpected(self, response: http.client.HTTPResponse) -> Unavailable:
        """A status or content this client does not expect: a proxy's page, a redirect, another service."""
        self.close()
        status = f"{response.status} {response.reason}".strip()
        kind = _media_type(response) or "no content type"
        if 300 <= response.status < 400:
            what = "a redirect (eventreg servers never redirect: is the address right, https:// included?)"
        elif response.status >= 500:
            what = "a server error without a problem document (a proxy or gateway in the way?)"
        else:
            what = f"{kind}, not an eventreg answer (is that an eventreg server?)"
        return Unavailable(f"the server {self.origin} answered {status}: {what}")

    def _scrub(self, text: str) -> str:
        for token in self.sent_tokens:
            text = text.replace(token, "***")
        return text

    def _decode(self, kind: Any, data: Any) -> Any:
        try:
            _check(kind, data)
            return from_json(kind, data)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError):
            raise Unavailable(
                f"the server {self.origin} sent an answer this client does not understand (another version?)"
            ) from None

    def _get(self, kind: Any, path: str, query: Query | None = None) -> Any:
        return self._decode(kind, self._call("GET", path, query))

    def _post(self, kind: Any, path: str, body: Any = None, method: str = "POST") -> Any:
        return self._decode(kind, self._call(method, path, body=body if body is not None else {}))

    def _count(self, path: str, body: Any) -> int:
        data = self._call("POST", path, body=body)
        count = data.get("revoked_sessions") if isinstance(data, dict) else None
        if not isinstance(count, int):
            raise Unavailable(f"the server {self.origin} sent an answer this client does not understand")
        return count

    def _page(self, kind: Any, path: str, query: Query, after: str | None, limit: int) -> Any:
        page = self._get(Page[kind], path, {**query, "after": after, "limit": limit})  # type: ignore[valid-type]
        self._follow(path, query, after, page.next)
        return page

    def _follow(self, path: str, query: Query, after: str | None, next_: str | None) -> None:
        """Refuse a cursor this walk of a list has had before: a server that sends one twice
        would keep `--all` asking for ever. A walk goes on from a cursor the server gave in
        it, and ends at the last page; any other start (none, or one the user typed) begins
        a new walk. Keyset cursors only move forward, so an eventreg server never repeats one."""
        key = path + "?" + urlencode(_params(query))
        seen = self._cursors.get(key)
        if seen is None or after is None or after not in seen:
            seen = self._cursors[key] = set() if after is None else {after}
        if next_ is None:
            del self._cursors[key]
            return
        if next_ in seen:
            self.close()
            raise Unavailable(
                f"the server {self.origin} sent the same page cursor twice (it would never end); "
                "is it an eventreg server, and of this version?"
            )
        seen.add(next_)

    # -- anyone -------------------------------------------------------------------------------

    def questions(self) -> list[Question]:
        result: list[Question] = self._get(list[Question], "/auth/questions")
        return result

    def sign_up(self, email: str, name: str, password: str, answers: list[tuple[int, str]]) -> User:
        body = {"email": email, "name": name, "password": password, "answers": _pairs(answers)}
        result: User = self._post(User, "/auth/signup", body)
        return result

    def login(self, email: str, password: str) -> Login:
        # The token of this origin goes along, so the server ends the session it replaces.
        result: Login = self._post(Login, "/auth/login", {"email": email, "password": password})
        self.sent_tokens.append(result.token)
        return result

    def reset_questions(self, email: str) -> list[Question]:
        result: list[Question] = self._post(list[Question], "/auth/reset/questions", {"email": email})
        return result

    def reset_with_answers(self, email: str, answers: list[str], new_password: str) -> None:
        self._call(
            "POST", "/auth/reset/answers", body={"email": email, "answers": answers, "new_password": new_password}
        )

    def reset_with_code(self, email: str, code: str, new_password: str) -> None:
        self._call("POST", "/auth/reset/code", body={"email": email, "code": code, "new_password": new_password})

    def bootstrap_admin(self, email: str, name: str, password: str) -> User:
        raise Unavailable(BOOTSTRAP_REFUSED)

    def list_events(self, query: EventsQuery, after: str | None, limit: int) -> Page[Event]:
        result: Page[Event] = self._page(Event, *_list_route(query), after, limit)
        return result

    def show_event(self, ref_: str) -> Event:
        result: Event = self._get(Event, f"/events/{ref(ref_)}")
        return result

    # -- signed in ------------------------------------------------------------------------------

    def session(self) -> SessionInfo:
        info: SessionInfo = self._get(SessionInfo, "/auth/session")
        return replace(info, server=str(self.origin))

    def logout(self, everywhere: bool = False) -> int:
        return self._count("/auth/logout", {"everywhere": everywhere})

    def change_password(self, current: str, new: str) -> int:
        return self._count("/auth/password", {"current_password": current, "new_password": new})

    def profile(self) -> Profile:
        result: Profile = self._get(Profile, "/users/me")
        return result

    def rename(self, name: str) -> User:
        result: User = self._post(User, "/users/me", {"name": name}, method="PATCH")
        return result

    def change_email(self, current_password: str, email: str) -> UserChange:
        body = {"current_password": current_password, "email": email}
        result: UserChange = self._post(UserChange, "/users/me/email", body)
        return result

    def set_questions(self, current_password: str, answers: list[tuple[int, str]]) -> int:
        body = {"current_password": current_password, "answers": _pairs(answers)}
        data = self._call("PUT", "/users/me/security-questions", body=body)
        count = data.get("revoked_sessions") if isinstance(data, dict) else None
        if not isinstance(count, int):
            raise Unavailable(f"the server {self.origin} sent an answer this client does not understand")
        return count

    def register(self, ref_: str) -> Enrolment:
        result: Enrolment = self._post(Enrolment, f"/events/{ref(ref_)}/registrations")
        return result

    def cancel_registration(
        self, ref_: str, user: str | None, reason: str | None, dry_run: bool = False
    ) -> Cancellation:
        body = {"user": user, "reason": reason, "dry_run": dry_run}
        result: Cancellation = self._post(Cancellation, f"/events/{ref(ref_)}/registrations/cancel", body)
        return result

    def list_mine(self, query: MineQuery, after: str | None, limit: int) -> Page[MyRegistration]:
        result: Page[MyRegistration] = self._page(MyRegistration, *_list_route(query), after, limit)
        return result

    def leave_waitlist(self, ref_: str) -> WaitlistChange:
        result: WaitlistChange = self._post(WaitlistChange, f"/events/{ref(ref_)}/waitlist/leave")
        return result

    # -- staff ------------------------------------------------------------------------------------

    def create_event(self, draft: EventDraft) -> Event:
        result: Event = self._post(Event, "/events", to_json(draft))
        return result

    def update_event(self, ref_: str, changes: EventChanges, dry_run: bool = False) -> EventUpdate:
        body = {**to_json(changes), "dry_run": dry_run}
        result: EventUpdate = self._post(EventUpdate, f"/events/{ref(ref_)}", body, method="PATCH")
        return result

    def publish_event(self, ref_: str, allow_past: bool = False) -> Event:
        result: Event = self._post(Event, f"/events/{ref(ref_)}/publish", {"allow_past": allow_past})
        return result

    def cancel_event(self, ref_: str, reason: str | None, dry_run: bool = False) -> EventCancellation:
        body = {"reason": reason, "dry_run": dry_run}
        result: EventCancellation = self._post(EventCancellation, f"/events/{ref(ref_)}/cancel", body)
        return result

    def organisers(self, ref_: str) -> list[Organiser]:
        result: list[Organiser] = self._get(list[Organiser], f"/events/{ref(ref_)}/organisers")
        return result

    def add_organiser(self, ref_: str, user: str) -> Organiser:
        path = f"/events/{ref(ref_)}/organisers/{ref(user)}"
        result: Organiser = self._decode(Organiser, self._call("PUT", path))
        return result

    def remove_organiser(self, ref_: str, user: str) -> Organiser:
        path = f"/events/{ref(ref_)}/organisers/{ref(user)}"
        result: Organiser = self._decode(Organiser, self._call("DELETE", path))
        return result

    def checkin(self, ref_: str, user: str, undo: bool = False) -> CheckIn:
        result: CheckIn = self._post(CheckIn, f"/events/{ref(ref_)}/checkin", {"user": user, "undo": undo})
        return result

    def list_attendance(self, query: AttendanceQuery, after: str | None, limit: int) -> Page[Attendee]:
        result: Page[Attendee] = self._page(Attendee, *_list_route(query), after, limit)
        return result

    def list_history(self, query: HistoryQuery, after: str | None, limit: int) -> Page[HistoryEntry]:
        result: Page[HistoryEntry] = self._page(HistoryEntry, *_list_route(query), after, limit)
        return result

    def stats(self, ref_: str, utc_offset_minutes: int) -> EventStats:
        query: Query = {"utc_offset_minutes": utc_offset_minutes}
        result: EventStats = self._get(EventStats, f"/events/{ref(ref_)}/stats", query)
        return result

    def list_waitlist(self, query: WaitlistQuery, after: str | None, limit: int) -> Page[WaitlistEntry]:
        result: Page[WaitlistEntry] = self._page(WaitlistEntry, *_list_route(query), after, limit)
        return result

    def promote(
        self, ref_: str, user: str, over_capacity: bool, reason: str | None, dry_run: bool = False
    ) -> WaitlistChange:
        body = {"user": user, "over_capacity": over_capacity, "reason": reason, "dry_run": dry_run}
        result: WaitlistChange = self._post(WaitlistChange, f"/events/{ref(ref_)}/waitlist/promote", body)
        return result

    def move(self, ref_: str, user: str, to: int, reason: str | None) -> WaitlistChange:
        body = {"user": user, "to": to, "reason": reason}
        result: WaitlistChange = self._post(WaitlistChange, f"/events/{ref(ref_)}/waitlist/move", body)
        return result

    def remove_from_waitlist(self, ref_: str, user: str, reason: str | None, dry_run: bool = False) -> WaitlistChange:
        body = {"user": user, "reason": reason, "dry_run": dry_run}
        result: WaitlistChange = self._post(WaitlistChange, f"/events/{ref(ref_)}/waitlist/remove", body)
        return result

    # -- admins ---------------------------------------------------------------------------------------

    def create_admin(self, email: str, name: str, password: str | None) -> UserChange:
        body = {"email": email, "name": name, "password": password}
        result: UserChange = self._post(UserChange, "/admin/admins", body)
        return result

    def list_users(self, query: UsersQuery, after: str | None, limit: int) -> Page[User]:
        result: Page[User] = self._page(User, *_list_route(query), after, limit)
        return result

    def show_user(self, ref_: str) -> AdminUser:
        result: AdminUser = self._get(AdminUser, f"/admin/users/{ref(ref_)}")
        return result

    def set_role(self, ref_: str, role: str, reason: str | None) -> UserChange:
        result: UserChange = self._post(UserChange, f"/admin/users/{ref(ref_)}/role", {"role": role, "reason": reason})
        return result

    def set_active(self, ref_: str, active: bool, reason: str | None, dry_run: bool = False) -> UserChange:
        body = {"active": active, "reason": reason, "dry_run": dry_run}
        result: UserChange = self._post(UserChange, f"/admin/users/{ref(ref_)}/active", body)
        return result

    def unlock(self, ref_: str, reason: str | None) -> UserChange:
        result: UserChange = self._post(UserChange, f"/admin/users/{ref(ref_)}/unlock", {"reason": reason})
        return result

    def reset_code(self, ref_: str) -> UserChange:
        result: UserChange = self._post(UserChange, f"/admin/users/{ref(ref_)}/reset-code")
        return result

    def set_capacity(self, ref_: str, seats: int, reason: str | None, dry_run: bool = False) -> CapacityChange:
        body = {"seats": seats, "reason": reason, "dry_run": dry_run}
        result: CapacityChange = self._post(CapacityChange, f"/admin/events/{ref(ref_)}/capacity", body)
        return result

    def list_registrations(self, query: RegistrationsQuery, after: str | None, limit: int) -> Page[Registration]:
        result: Page[Registration] = self._page(Registration, *_list_route(query), after, limit)
        return result

    def import_users(self, lines: Iterable[str]) -> ImportReport:
        """Send the CSV as it is read (chunked), so a large file never sits in memory; stop
        sending if the server answers early (a refusal comes before it reads the body)."""
        deadline = _Deadline(self.timeout_s)
        headers = self._headers({"Content-Type": "text/csv; charset=utf-8", "Transfer-Encoding": "chunked"})
        conn = self._connect(deadline)
        sending, complete = True, False
        try:
            self._wait(deadline)
            conn.putrequest("POST", "/admin/users/import")
            for key, value in headers.items():
                conn.putheader(key, value)
            conn.endheaders()
            for block in _blocks(lines):
                assert conn.sock is not None
                if _dropped(conn.sock):
                    break  # the server has answered (or closed) before reading it all
                self._wait(_Deadline(self.timeout_s))
                conn.send(b"%X\r\n%s\r\n" % (len(block), block))
            else:
                conn.send(b"0\r\n\r\n")
                complete = True
            sending = False
            deadline = _Deadline(self.timeout_s)  # the import itself runs now
            self._wait(deadline)
            _expect(conn, deadline)
            response = conn.getresponse()
        except EventregError:
            self.close()  # the file could not be read: the server gets a broken body and imports nothing
            raise
        except TimeoutError:
            self.close()
            raise self._timed_out("sending the file" if sending else "waiting for the import") from None
        except (OSError, http.client.HTTPException) as exc:
            early = self._early_answer(conn) if sending else None
            if early is None:
                self.close()
                raise Unavailable(
                    f"the connection to the server {self.origin} broke during the import ({_reason(exc)}); "
                    "it imports every row or none: list the users to see whether it was done"
                ) from None
            response, deadline = early
        _mark_served(conn)
        try:
            result: ImportReport = self._decode(ImportReport, self._answer(response, deadline))
        finally:
            if not complete:
                self.close()  # the server answered before the body ended: this connection is done
        return result

    def _early_answer(self, conn: http.client.HTTPConnection) -> tuple[http.client.HTTPResponse, _Deadline] | None:
        """The answer a server sent before it stopped reading the body, if one arrived, and
        the deadline it is read within (a refusal is short)."""
        deadline = _Deadline(min(self.timeout_s, 5.0))
        try:
            _expect(conn, deadline)
            return conn.getresponse(), deadline
        except (OSError, http.client.HTTPException):
            return None

    # -- exports ----------------------------------------------------------------------------------------

    def export(self, query: ListQuery) -> Iterator[bytes]:
        """The list's CSV, a block at a time as the server streams it, each cell made safe
        again as the local path makes it (`_safe_csv`)."""
        yield from _safe_csv(self._export_blocks(query), f"the export from the server {self.origin}")

    def _export_blocks(self, query: ListQuery) -> Iterator[bytes]:
        """The list's CSV as the server streams it."""
        path, params = _list_route(query)
        response, deadline = self._send("GET", path, {**params, "format": "csv"})
        if response.status >= 400 and _media_type(response) == "application/problem+json":
            raise self._problem(response, self._read(response, deadline))
        if response.status != 200 or _media_type(response) != "text/csv":
            raise self._unexpected(response)
        finished = False
        try:
            while True:
                self._wait(deadline)
                block = response.read1(BLOCK)
                if not block:
                    break
                yield block
                deadline.restart()  # a long export is fine while rows keep coming (the reader sees it)
            if response.length:
                raise Unavailable(f"the export from the server {self.origin} broke off before its end")
            response.close()
            finished = True
        except TimeoutError:
            raise self._timed_out("in the middle of an export") from None
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"the export from the server {self.origin} broke off: {_reason(exc)}") from None
        finally:
            if not finished or response.will_close:
                self.close()  # a half-read answer leaves the connection unusable


# -- helpers --------------------------------------------------------------------------------------------


def _list_route(query: ListQuery) -> tuple[str, Query]:
    """The route of a list (a page of it, or with format=csv all of it) and its filters."""
    if isinstance(query, EventsQuery):
        return "/events", {"scope": query.scope, "mine": query.mine}
    if isinstance(query, WaitlistQuery):
        return f"/events/{ref(query.event)}/waitlist", {}
    if isinstance(query, AttendanceQuery):
        return f"/events/{ref(query.event)}/attendance", {}
    if isinstance(query, HistoryQuery):
        return f"/events/{ref(query.event)}/history", {}
    if isinstance(query, MineQuery):
        return "/users/me/registrations", {"past": query.past}
    if isinstance(query, UsersQuery):
        return "/admin/users", {"role": query.role, "search": query.search}
    if isinstance(query, RegistrationsQuery):
        return "/admin/registrations", {"event": query.event, "user": query.user, "status": query.status}
    raise TypeError(f"no route for {type(query).__name__}")


def _params(query: Query) -> list[tuple[str, str]]:
    """Query parameters: None left out, booleans as true/false."""
    out = []
    for key, value in query.items():
        if value is None:
            continue
        out.append((key, ("true" if value else "false") if isinstance(value, bool) else str(value)))
    return out


def _pairs(answers: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"key": key, "answer": answer} for key, answer in answers]


def _blocks(lines: Iterable[str]) -> Iterator[bytes]:
    """Lines of text gathered into blocks of about 64 KiB of UTF-8."""
    pending: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8")
        pending.append(data)
        size += len(data)
        if size >= BLOCK:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


# -- an export's CSV, not trusted ------------------------------------------------------------------

# A block of CSV written by csv.writer is looked at by byte operations that run at memory
# speed: text.csv_block_has_replaced (as db/export.py looks at the database's CSV), then
# each byte as its class, so that a cell that starts like a formula (at a line's start or
# after a comma, its quote first if it has one) is a search for two short strings. A comma
# inside a quoted cell can look like a cell's start: that costs a look only.
_CLASSES = bytes(0x2C if b in b",\n" else 0x22 if b == 0x22 else 0x3D if b in b"=+-@" else 0x61 for b in range(0x100))


def _looks_safe(data: bytes, rows: int) -> bool:
    """Whether no cell of these `rows` rows needs csv_cell (False may be wrong, True never is)."""
    if csv_block_has_replaced(data, rows):
        return False
    classes = b"," + data.translate(_CLASSES)
    return b",=" not in classes and b',"=' not in classes


class _Lines:
    """Blocks of UTF-8 as lines of text (invalid bytes become U+FFFD), counting what they hand on."""

    def __init__(self, blocks: Iterable[bytes], what: str) -> None:
        self.blocks, self.what, self.taken = blocks, what, 0

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        for block in self.blocks:
            lines = (pending + decoder.decode(block)).split("\n")
            pending = lines.pop()
            if len(pending) > MAX_CSV_LINE:
                raise Unavailable(f"{self.what} has a line over {MAX_CSV_LINE // 2**20} MiB; refused")
            for line in lines:
                self.taken += len(line) + 1
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
        if pending:
            self.taken += len(pending)
            yield pending


def _safe_csv(blocks: Iterable[bytes], what: str) -> Iterator[bytes]:
    """CSV with every cell made safe by `text.csv_cell`, re-encoded as the exports write it
    (csv.writer, "\n"), in blocks of about BLOCK: memory stays flat.

    Rows are read with the csv module as they arrive and gathered into blocks. Each block
    is written once as it came; nearly always a look at its bytes (`_looks_safe`) shows no
    cell needs csv_cell, since csv_cell leaves a safe cell as it is ("'=x" stays "'=x"),
    and the block goes out. Otherwise the block is written again, each
    cell through csv_cell. A negative whole number is left as a number, as the local path
    leaves numbers."""
    lines = _Lines(blocks, what)
    reader = csv.reader(lines)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    batch: list[list[str]] = []
    try:
        for row in reader:
            batch.append(row)
            if lines.taken >= BLOCK:
                yield _safe_rows(batch, out, writer)
                batch.clear()
                lines.taken = 0
    except csv.Error as exc:
        raise Unavailable(f"{what} is not CSV this client can read ({exc})") from None
    if batch:
        yield _safe_rows(batch, out, writer)


def _safe_rows(rows: list[list[str]], out: io.StringIO, writer: Any) -> bytes:
    out.seek(0)
    out.truncate()
    writer.writerows(rows)
    data = out.getvalue().encode()
    if _looks_safe(data, len(rows)):
        return data
    out.seek(0)
    out.truncate()
    writer.writerows([_safe_cell(value) for value in row] for row in rows)
    return out.getvalue().encode()


def _safe_cell(value: str) -> str:
    if value[:1] == "-" and value[1:].isdigit() and value.isascii():
        return value  # -3 is a number: the local path leaves numbers as they are
    return csv_cell(value)


def _check(kind: Any, data: Any) -> None:
    """Refuse an answer whose shape is not the type's (TypeError): `from_json` trusts its input."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return
        return _check(next(a for a in args if a is not type(None)), data)
    if origin is list:
        if not isinstance(data, list):
            raise TypeError("a list was expected")
        for item in data:
            _check(args[0], item)
    elif origin is Page:
        if not isinstance(data, dict) or not isinstance(data.get("next"), str | None):
            raise TypeError("a page was expected")
        _check(list[args[0]], data.get("items"))  # type: ignore[valid-type]
    elif origin is dict or kind is dict:
        if not isinstance(data, dict):
            raise TypeError("an object was expected")
        _shallow(data)
    elif isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise TypeError("an object was expected")
        hints = field_types(kind)
        for f in dataclasses.fields(kind):
            if f.name in data:
                _check(hints[f.name], data[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise TypeError(f"{f.name} is missing")
    elif kind in (datetime, date, str):
        if not isinstance(data, str):
            raise TypeError("a string was expected")
    elif kind is bool or kind is int:
        if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
            raise TypeError(f"{kind.__name__} was expected")
    elif kind is float:
        if not isinstance(data, int | float) or isinstance(data, bool):
            raise TypeError("a number was expected")


def _shallow(value: Any) -> None:
    """Refuse a JSON value nested deeper than MAX_DEPTH (TypeError): printing it would recurse."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    raise TypeError(f"nested deeper than {MAX_DEPTH}")
                stack.append((child, depth + 1))


# A \\u escape of a surrogate (of a pair, or a lone one) in JSON text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse_json(raw: bytes) -> Any:
    """JSON as RFC 8259 has it over a network, UTF-8 (ValueError otherwise); a lone surrogate
    (an escape like "\\ud800" without its pair, which no output can encode) becomes U+FFFD."""
    text = raw.decode("utf-8")
    data = json.loads(text)
    return _mend(data) if _SURROGATE_ESCAPE.search(text) else data


def _mend(value: Any) -> Any:
    """The value with each lone surrogate of its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_mend(item) for item in value]
    if isinstance(value, dict):
        return {_mend(key): _mend(item) for key, item in value.items()}
    return value


def _media_type(response: http.client.HTTPResponse) -> str:
    return (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()


def _dropped(sock: socket.socket) -> bool:
    """True when an idle connection has something to read: the server closed it (or sent
    what nobody asked for); either way it is not fit for another request."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _served(conn: http.client.HTTPConnection) -> bool:
    return bool(getattr(conn, "_eventreg_served", False))


def _mark_served(conn: http.client.HTTPConnection) -> None:
    conn._eventreg_served = True  # type: ignore[attr-defined]


def _reason(exc: BaseException) -> str:
    """A short cause without addresses the user did not give or anything from a header."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "it closed the connection without answering"
    if isinstance(exc, http.client.IncompleteRead):
        return "the answer ended early"
    if isinstance(exc, http.client.HTTPException):
        return "it did not answer in HTTP"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
