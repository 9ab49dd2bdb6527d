"""Races and sessions through a real server: many HTTP clients at once on a small pool, and
what happens to a token when servers change, restart, or end its session.

Every server is uvicorn on a loopback port over this test's own migrated database; every
client holds its own socket. Nothing is faked, and no test sleeps a fixed time: they wait
on a barrier or poll for the state.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
import uvicorn

from eventreg.config import Settings, load_settings
from eventreg.db.doctor import violations
from eventreg.server.app import create_app
from tests import support
from tests.conftest import PASSWORD, TEST_SECRET, Cli, MemoryKeyring, Template
from tests.server.conftest import running

POOL_SIZE = 4  # far fewer connections than clients: requests queue on the pool
START_TIMEOUT_S = 30.0


# -- helpers -----------------------------------------------------------------------------------------


def students_with_tokens(conn: Any, count: int, prefix: str = "racer") -> list[tuple[int, str, str]]:
    """`count` students, each with a live session, made set-based in SQL and signed as
    tests/conftest.py signs the template's tokens: (user id, email, bearer token)."""
    users = support.insert_users(conn, count, prefix=prefix)
    rows = conn.execute(
        "INSERT INTO sessions (jti, user_id, expires_at)"
        " SELECT gen_random_uuid(), u, now() + interval '1 day' FROM unnest(%s::bigint[]) AS u"
        " RETURNING jti, user_id",
        ([u.id for u in users],),
    ).fetchall()
    jti = {r["user_id"]: str(r["jti"]) for r in rows}
    now = datetime.now(UTC)
    expires = now + timedelta(days=1)
    made = []
    for user in users:
        claims = {"sub": str(user.id), "role": "student", "iat": now, "exp": expires, "jti": jti[user.id]}
        made.append((user.id, user.email, jwt.encode(claims, TEST_SECRET, "HS256")))
    return made


def call(conn: http.client.HTTPConnection, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    """One request on a kept-alive connection; the status and the decoded JSON body."""
    headers = {"Content-Length": "0"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, json.loads(body) if body else None


def race(base: str, jobs: list[tuple[str, str, str]]) -> list[tuple[int, Any]]:
    """Each job (method, path, token) on its own thread and its own keep-alive connection,
    opened and used once before a barrier releases them all together; answers in job order."""
    where = urlsplit(base)
    barrier = threading.Barrier(len(jobs), timeout=60)
    answers: list[tuple[int, Any] | BaseException | None] = [None] * len(jobs)

    def run(index: int, method: str, path: str, token: str) -> None:
        conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=60)
        try:
            assert call(conn, "GET", "/healthz")[0] == 200  # the connection is up before the race
            sock = conn.sock
            barrier.wait()
            answers[index] = call(conn, method, path, token)
            assert conn.sock is sock, "the connection was not kept alive"
        except BaseException as exc:  # asserted on by the caller
            answers[index] = exc
            barrier.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i, *job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [a for a in answers if not isinstance(a, tuple)]
    assert not failed, failed[:3]
    return [a for a in answers if isinstance(a, tuple)]


def pool_of(app: Any) -> Any:
    return app.state.served.pool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot take signals
        return None


@contextlib.contextmanager
def serving_on(app: Any, port: int) -> Iterator[str]:
    """Serve `app` on a given loopback port (so that a restarted server has the same origin)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="eventreg-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:  # polling for the started flag, not waiting a fixed time
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        assert not thread.is_alive(), "the test server did not stop"


def client_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on this process's command line holds no database URL and no signing secret
    (a server started before keeps the settings it read)."""
    for key in ("DATABASE_URL", "DATABASE_URL_TEST", "JWT_SECRET"):
        monkeypatch.delenv(key, raising=False)


def stored(keyring_: MemoryKeyring) -> list[str]:
    return list(keyring_.store.values())


def login_over_http(base: str, email: str) -> str:
    response = httpx.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def assert_denied(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = response.json()
    assert doc["type"] == "urn:eventreg:problem:denied" and doc["status"] == 401
    return doc


@pytest.fixture
def remote(server: str, env: Path, monkeypatch: pytest.MonkeyPatch, template: Template) -> Cli:
    """A command line that talks to the test server and holds no database."""
    client_only(monkeypatch)
    monkeypatch.setenv("EVENTREG_SERVER", server)
    return Cli(monkeypatch, template)


# -- races -------------------------------------------------------------------------------------------


def test_200_clients_racing_for_50_seats_through_the_server_fill_exactly_50_and_queue_150(env, db, conn):
    event = support.published_event(db, capacity=50)
    racers = students_with_tokens(conn, 200)
    app = create_app(load_settings(), db, pool_size=POOL_SIZE)
    with running(app) as base:
        answers = race(base, [("POST", f"/events/{event.slug}/registrations", token) for _, _, token in racers])
        stats = pool_of(app).get_stats()
    assert stats["pool_max"] == POOL_SIZE
    assert stats.get("requests_queued", 0) > 0, stats  # the requests really overlapped and waited for the pool
    assert [status for status, _ in answers] == [201] * 200, [a for a in answers if a[0] != 201][:3]

    # Who gets a seat, and each place in line, is decided under the event's row lock
    # (SELECT ... FOR UPDATE in eventreg_take_place, migration 0011); the CHECK
    # events_seats_within_capacity would refuse a 51st seat even without it.
    seated = {uid for (uid, _, _), (_, body) in zip(racers, answers, strict=True) if body["status"] == "registered"}
    placed = {uid: body["position"] for (uid, _, _), (_, body) in zip(racers, answers, strict=True)
              if body["status"] == "waitlisted"}  # fmt: skip
    assert len(seated) == 50 and len(placed) == 150
    assert sorted(placed.values()) == list(range(1, 151))  # no gap, no repeat

    state = support.event_state(conn, event.id)
    assert state["registered"] == seated and state["registered_count"] == 50
    assert state["waitlist_length"] == 150
    # the database's line is the order the answers gave: position n is the n-th in line
    assert state["waitlist"] == sorted(placed, key=placed.__getitem__)
    positions = conn.execute(
        "SELECT user_id, row_number() OVER (ORDER BY waitlist_rank, id) AS n FROM registrations"
        " WHERE event_id = %s AND status = 'waitlisted'",
        (event.id,),
    ).fetchall()
    assert {r["user_id"]: r["n"] for r in positions} == placed
    assert violations(conn) == set()


def test_20_cancellations_racing_through_the_server_promote_the_first_20_waiting_in_order(env, db, conn):
    event = support.published_event(db, capacity=20)
    holders = students_with_tokens(conn, 20, prefix="holder")
    waiting = students_with_tokens(conn, 30, prefix="waiting")
    newcomers = students_with_tokens(conn, 10, prefix="new")
    app = create_app(load_settings(), db, pool_size=POOL_SIZE)
    with running(app) as base:
        where = urlsplit(base)
        setup = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
        try:  # the line, in a known order
            for expected, (_, _, token) in [("registered", h) for h in holders] + [("waitlisted", w) for w in waiting]:
                status, body = call(setup, "POST", f"/events/{event.slug}/registrations", token)
                assert (status, body["status"]) == (201, expected), body
        finally:
            setup.close()
        cancels = [("POST", f"/events/{event.slug}/registrations/cancel", token) for _, _, token in holders]
        joins = [("POST", f"/events/{event.slug}/registrations", token) for _, _, token in newcomers]
        answers = race(base, cancels + joins)

    # Each cancellation and the promotion of the head of the line run in one statement under
    # the event's row lock (SELECT ... FOR UPDATE in eventreg_give_up_place, migration 0011;
    # the counting trigger's UPDATE of the events row takes the same lock), so no seat is
    # ever free for a newcomer to take and each freed seat goes to the next in line.
    cancelled, joined = answers[:20], answers[20:]
    assert all(status == 200 and body["was"] == "registered" for status, body in cancelled), cancelled
    assert all(body["promoted"] == [] for _, body in cancelled), cancelled  # who got it is not theirs to know
    first_20 = [uid for uid, _, _ in waiting[:20]]
    assert all(status == 201 and body["status"] == "waitlisted" for status, body in joined), joined

    promoted_in_order = [
        r["subject_user_id"]
        for r in conn.execute(
            "SELECT subject_user_id FROM audit_log WHERE event_id = %s AND action = 'promoted' ORDER BY id",
            (event.id,),
        )
    ]
    assert promoted_in_order == first_20
    state = support.event_state(conn, event.id)
    assert state["registered"] == set(first_20) and state["registered_count"] == 20
    assert state["waitlist"][:10] == [uid for uid, _, _ in waiting[20:]]  # the rest keep their order
    assert set(state["waitlist"][10:]) == {uid for uid, _, _ in newcomers}  # newcomers behind them
    assert state["waitlist_length"] == 20
    assert violations(conn) == set()


# -- tokens and servers ------------------------------------------------------------------------------


class Recorder:
    """Another server on a real loopback socket: it records the Authorization header of every
    request and answers like an eventreg server that knows no session (401), except for the
    public event list."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        recorder = self

        class Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                recorder.seen.append((self.command, path, self.headers.get("Authorization")))
                body: dict[str, Any]
                if (self.command, path) == ("GET", "/events"):
                    status, kind, body = 200, "application/json", {"items": [], "next": None}
                else:
                    kind = "application/problem+json"
                    status, body = 401, {"type": "urn:eventreg:problem:denied", "title": "Not signed in",
                                         "status": 401, "detail": "not logged in"}  # fmt: skip
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    made = Recorder()
    yield made
    made.stop()


def test_a_token_from_one_server_is_never_sent_to_another(
    server: str, env: Path, cli: Cli, monkeypatch, memory_keyring: MemoryKeyring, recorder: Recorder
):
    client_only(monkeypatch)
    login = ["auth", "login", "--email", "student@example.edu", "--password-stdin"]
    done = cli(*login, "--server", server, input=f"{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    (token_a,) = stored(memory_keyring)
    assert cli("auth", "status").exit_code == 0  # to server A, with A's token

    # Server B: the client has no token for it, so whatever it sends carries none of A's.
    monkeypatch.setenv("EVENTREG_SERVER", recorder.origin)
    for args in (["auth", "status"], ["user", "show"], ["event", "list"], ["register", "for", "some-talk"]):
        result = cli(*args)
        assert result.exit_code in (0, 3), (args, result.output)
    assert cli(*login, "--server", recorder.origin, input=f"{PASSWORD}\n").exit_code == 3
    # The same server under another origin is another server too: A's token is not sent, so
    # A (which would accept it) does not know this client.
    monkeypatch.setenv("EVENTREG_SERVER", server.replace("127.0.0.1", "localhost"))
    assert cli("auth", "status").exit_code == 3

    assert len(recorder.seen) >= 4, recorder.seen
    headers = [auth for _, _, auth in recorder.seen]
    assert not [h for h in headers if h and token_a in h], recorder.seen
    assert headers == [None] * len(headers), recorder.seen  # no token at all went to B
    monkeypatch.delenv("EVENTREG_SERVER")  # back to the remembered server A: its token is still there
    assert stored(memory_keyring) == [token_a]
    assert cli("auth", "status").exit_code == 0


def test_a_restarted_server_on_the_same_database_keeps_the_sessions(
    env: Path, db: str, cli: Cli, monkeypatch, memory_keyring: MemoryKeyring
):
    settings: Settings = load_settings()
    port = _free_port()
    with serving_on(create_app(settings, db, pool_size=2), port) as origin:
        client_only(monkeypatch)
        done = cli("auth", "login", "--server", origin, "--email", "student@example.edu", "--password-stdin",
                   input=f"{PASSWORD}\n")  # fmt: skip
        assert done.exit_code == 0, done.output
        assert cli("auth", "status").exit_code == 0
    (token,) = stored(memory_keyring)
    down = cli("auth", "status")
    assert down.exit_code == 5 and origin in down.stderr, down.output  # the first server is gone

    # A new app, a new pool, a new uvicorn; the sessions live in the database.
    with serving_on(create_app(settings, db, pool_size=2), port) as again:
        assert again == origin
        status = cli("auth", "status", "--json")
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["email"] == "student@example.edu"
        assert cli("user", "show").exit_code == 0
    assert stored(memory_keyring) == [token]  # the same token, not a new login


def test_logout_everywhere_refuses_the_other_token_on_its_next_request(remote: Cli, server: str, conn, people):
    first, second = (login_over_http(server, "student@example.edu") for _ in range(2))
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {second}"}) as other:
        assert other.get("/users/me").status_code == 200  # a live, kept-alive session

        # Every request authenticates against the sessions table (auth.service.authenticate):
        # revoked_at set by the logout is seen by the very next request.
        out = remote.as_token(first)("auth", "logout", "--all")
        assert out.exit_code == 0, out.output

        doc = assert_denied(other.get("/users/me"))
        assert second not in doc["detail"]
        assert_denied(other.post("/events/anything/registrations"))
    for token in (first, second):
        refused = remote.as_token(token)("user", "show")
        assert refused.exit_code == 3, refused.output
    live = conn.execute(
        "SELECT count(*) AS n FROM sessions WHERE user_id = %s AND revoked_at IS NULL", (people["student"].id,)
    ).fetchone()
    assert live["n"] == 0


def test_a_deactivated_user_is_refused_on_their_next_request(remote: Cli, server: str, conn):
    (uid, email, token) = students_with_tokens(conn, 1, prefix="leaver")[0]
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}) as leaver:
        assert leaver.get("/users/me").status_code == 200

        # The account's is_active and its sessions are read by every request (authenticate);
        # deactivation revokes the sessions in the same transaction.
        done = remote.as_role("admin")("admin", "users", "deactivate", email, "--yes")
        assert done.exit_code == 0, done.output

        assert_denied(leaver.get("/users/me"))
    refused = remote.as_token(token)("user", "show")
    assert refused.exit_code == 3, refused.output
    assert conn.execute("SELECT is_active FROM users WHERE id = %s", (uid,)).fetchone()["is_active"] is False


def test_successful_logins_from_one_address_never_use_up_its_limit(server):
    """Many people behind one NAT or proxy: a success gives its attempt back."""
    from eventreg.auth.service import MAX_CLIENT_ATTEMPTS

    with httpx.Client(base_url=server) as client:
        for _ in range(MAX_CLIENT_ATTEMPTS + 5):
            ok = client.post("/auth/login", json={"email": "student@example.edu", "password": PASSWORD})
            assert ok.status_code == 200, ok.text
        for i in range(MAX_CLIENT_ATTEMPTS):  # guesses still count: the limit is for guessing
            client.post("/auth/login", json={"email": f"guess-{i}@example.edu", "password": "wrong-pass"})
        refused = client.post("/auth/login", json={"email": "student@example.edu", "password": PASSWORD})
        assert refused.status_code == 429, refused.text
