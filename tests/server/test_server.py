"""The HTTP server over a real socket: problem documents, role gates, streaming, limits,
readiness, the docs, the request log, attempt limits and a race for the last seat.

Every test talks to uvicorn on a loopback port (the `server` fixture), which runs on this
test's own migrated database; nothing is faked.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from eventreg import errors
from eventreg.config import load_settings
from eventreg.db.connection import connect
from eventreg.server.app import create_app
from tests import support
from tests.conftest import PASSWORD
from tests.server.conftest import running

PROBLEM = "application/problem+json"


def bearer(template: Any, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {template.tokens[role]}"}


def event_by(url: str, role_token: str, capacity: int = 5) -> str:
    """A published event created over HTTP; returns its slug."""
    title = f"Talk {uuid.uuid4().hex[:6]}"
    body = {"title": title, "capacity": capacity, "starts_at": "2099-01-01T10:00", "publish": True}
    response = httpx.post(f"{url}/events", json=body, headers={"Authorization": f"Bearer {role_token}"})
    assert response.status_code == 201, response.text
    return str(response.json()["slug"])


def assert_problem(response: httpx.Response, status: int, name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    doc = response.json()
    assert doc["type"] == errors.PROBLEM_BASE + name
    assert doc["status"] == status
    assert doc["title"] and doc["detail"]
    return dict(doc)


def new_student(url: str) -> str:
    """Sign up and sign in a new student over HTTP; returns the token."""
    email = f"s-{uuid.uuid4().hex[:8]}@example.edu"
    answers = [{"key": 1, "answer": "Blue"}, {"key": 2, "answer": "Rex"}]
    signup = {"email": email, "name": "Second Student", "password": PASSWORD, "answers": answers}
    assert httpx.post(f"{url}/auth/signup", json=signup).status_code == 201
    login = httpx.post(f"{url}/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["token"])


# -- problem documents -------------------------------------------------------------------------


def test_each_error_class_is_a_problem_whose_type_and_status_map_back_to_it(server, template):
    slug = event_by(server, template.tokens["staff"], capacity=3)
    cases: list[tuple[httpx.Response, int, str, type[errors.EventregError]]] = [
        (httpx.get(f"{server}/auth/session"), 401, "denied", errors.NotLoggedIn),
        (httpx.get(f"{server}/admin/users", headers=bearer(template, "student")), 403, "denied",
         errors.PermissionDenied),
        (httpx.get(f"{server}/events/no-such-event"), 404, "not-found", errors.NotFound),
        (
            httpx.post(f"{server}/auth/signup", json={"email": "x@example.edu", "name": "X", "password": "short",
                                                      "answers": []}),
            422,
            "invalid-input",
            errors.InvalidInput,
        ),
    ]  # fmt: skip
    first = httpx.post(f"{server}/events/{slug}/registrations", headers=bearer(template, "student"))
    assert first.status_code == 201 and first.json()["status"] == "registered"
    again = httpx.post(f"{server}/events/{slug}/registrations", headers=bearer(template, "student"))
    cases.append((again, 409, "refused", errors.DomainError))
    for response, status, name, cls in cases:
        doc = assert_problem(response, status, name)
        assert type(errors.from_problem(doc["type"], doc["status"], doc["detail"])) is cls


def test_a_value_the_database_refuses_is_invalid_input_not_a_500(server, template):
    body = {"title": "Nul\u0000byte", "capacity": 5, "starts_at": "2099-01-01T10:00"}
    response = httpx.post(f"{server}/events", json=body, headers=bearer(template, "staff"))
    assert_problem(response, 422, "invalid-input")


def test_a_database_behind_this_version_says_so_locally_and_over_http(server, template, conn, cli):
    """A migration rolled back (here: the seat function dropped) is "run eventreg db migrate",
    exit 5 on the command line and 503 over HTTP, never a driver message or a 500."""
    slug = event_by(server, template.tokens["staff"])
    conn.execute("DROP FUNCTION eventreg_take_place(text, bigint, boolean)")
    local = cli.as_role("student")("register", slug)
    assert local.exit_code == 5 and "run eventreg db migrate" in local.stderr, local.stderr
    doc = assert_problem(httpx.post(f"{server}/events/{slug}/registrations", headers=bearer(template, "student")),
                         503, "unavailable")  # fmt: skip
    assert doc["detail"] == "the database is not set up for this version of the server"


def test_unknown_route_is_a_not_found_problem(server):
    assert_problem(httpx.get(f"{server}/no/such/route"), 404, "not-found")
    # no redirect to a slash-less twin: a trailing slash is another path
    assert_problem(httpx.get(f"{server}/events/", follow_redirects=False), 404, "not-found")


def test_a_reference_with_an_encoded_slash_reaches_no_other_route(server, template):
    slug = event_by(server, template.tokens["staff"])
    staff = bearer(template, "staff")
    assert httpx.get(f"{server}/events/{slug}/organisers", headers=staff).status_code == 200
    # decoded before routing, this would be the organisers list above, answered as if it were one event
    assert_problem(httpx.get(f"{server}/events/{slug}%2Forganisers", headers=staff), 404, "not-found")
    assert_problem(httpx.get(f"{server}/events/{slug}%2forganisers", headers=staff), 404, "not-found")


# -- request bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"email": "student@example.edu", "password": PASSWORD, "remember": True},  # unknown key
        {"email": "student@example.edu", "password": 12345678901},  # a number for a string
        {"email": "student@example.edu"},  # a key missing
        ["student@example.edu", PASSWORD],  # not an object
    ],
)
def test_malformed_body_is_refused_as_invalid_input_without_echoing_it(server, body):
    response = httpx.post(f"{server}/auth/login", json=body)
    doc = assert_problem(response, 422, "invalid-input")
    assert PASSWORD not in doc["detail"] and "12345678901" not in doc["detail"]


def test_strict_types_refuse_a_string_for_an_integer(server, template):
    body = {"title": "Strict", "capacity": "5", "starts_at": "2099-01-01T10:00"}
    response = httpx.post(f"{server}/events", json=body, headers=bearer(template, "staff"))
    assert "capacity" in assert_problem(response, 422, "invalid-input")["detail"]


def test_json_body_over_one_mib_is_refused_with_413(server):
    big = {"email": "a@example.edu", "password": "x" * (1 << 20)}
    assert_problem(httpx.post(f"{server}/auth/login", json=big), 413, "invalid-input")


def test_chunked_body_over_one_mib_is_refused_with_413_while_it_streams(server):
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "a@example.edu", "password": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = httpx.post(f"{server}/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "invalid-input")


# -- who may do what ---------------------------------------------------------------------------------

GATES = [
    # (method, path, JSON body, least role)
    ("GET", "/auth/session", None, "student"),
    ("GET", "/users/me", None, "student"),
    ("GET", "/users/me/registrations", None, "student"),
    ("POST", "/events", {"title": "Gate", "capacity": 2, "starts_at": "2099-03-01T10:00"}, "staff"),
    ("GET", "/events/{slug}/attendance", None, "staff"),
    ("GET", "/events/{slug}/waitlist", None, "staff"),
    ("GET", "/events/{slug}/stats", None, "staff"),
    ("GET", "/admin/users", None, "admin"),
    ("GET", "/admin/registrations", None, "admin"),
    ("POST", "/admin/events/{slug}/capacity", {"seats": 9, "dry_run": True}, "admin"),
]
RANK = {None: 0, "student": 1, "staff": 2, "admin": 3}


@pytest.mark.parametrize(("method", "path", "body", "least"), GATES)
def test_routes_refuse_callers_below_their_role_and_serve_those_at_it(server, template, method, path, body, least):
    slug = event_by(server, template.tokens["staff"])
    for role in (None, "student", "staff", "admin"):
        headers = bearer(template, role) if role else {}
        response = httpx.request(method, server + path.format(slug=slug), json=body, headers=headers)
        if role is None:
            assert_problem(response, 401, "denied")
        elif RANK[role] < RANK[least]:
            assert_problem(response, 403, "denied")
        else:
            assert response.status_code in (200, 201), f"{role} {method} {path}: {response.text}"


def test_an_invalid_token_is_401_even_on_a_public_route_that_needs_none_not(server, template):
    # a public read ignores a stale token (anonymous), a signed-in route refuses it
    assert httpx.get(f"{server}/events", headers={"Authorization": "Bearer nonsense"}).status_code == 200
    assert_problem(httpx.get(f"{server}/users/me", headers={"Authorization": "Bearer nonsense"}), 401, "denied")


# -- CSV exports --------------------------------------------------------------------------------------


def test_csv_export_streams_every_row_in_chunks(server, template, conn):
    support.insert_users(conn, 3000)
    with httpx.stream("GET", f"{server}/admin/users?format=csv&limit=1", headers=bearer(template, "admin")) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert "content-length" not in r.headers and r.headers.get("transfer-encoding") == "chunked"
        body = b"".join(r.iter_raw())
    lines = body.decode().splitlines()
    assert lines[0].startswith("id,email,name,role")
    assert len(lines) == 1 + 3000 + 3  # header, the inserted users, the template's three


def test_csv_export_refusal_is_a_problem_not_a_broken_stream(server, template):
    response = httpx.get(f"{server}/admin/users?format=csv", headers=bearer(template, "student"))
    assert_problem(response, 403, "denied")


def _copies_on_the_pool(conn: Any) -> list[dict[str, Any]]:
    """The server's sessions on this database that are running a statement (a COPY blocked on
    a client that stopped reading shows as active, waiting on ClientWrite)."""
    return list(
        conn.execute(
            "SELECT pid, state, wait_event, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'eventreg-server'"
            " AND (state = 'active' OR wait_event = 'ClientWrite')"
        ).fetchall()
    )


def test_export_clients_that_stop_reading_do_not_hold_the_pool(env, db, conn, monkeypatch):
    """Anonymous clients ask for a large export, read 200 bytes and stop reading. Streamed
    straight from the COPY, each of them would hold a pool connection for as long as it keeps
    its socket open; spooled, the COPY ends and its connection is back in the pool."""
    conn.execute(
        "INSERT INTO events (slug, title, description, capacity, starts_at, ends_at, status)"
        " SELECT 'bulk-' || g, 'Bulk ' || g, repeat('abcdefghij', 500), 10,"
        "        now() + interval '1 day' + g * interval '1 minute',"
        "        now() + interval '2 days' + g * interval '1 minute', 'published'"
        " FROM generate_series(1, 1500) AS g"
    )  # some 7.5 MB of CSV: more than the loopback socket buffers hold
    monkeypatch.setenv("EVENTREG_CONNECT_WAIT_S", "2")
    with running(create_app(load_settings(), db, pool_size=2)) as url:
        host, port = url.removeprefix("http://").split(":")
        stalled: list[socket.socket] = []
        try:
            for _ in range(3):  # more readers than the pool has connections
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that keeps little
                sock.settimeout(20)
                sock.connect((host, int(port)))
                stalled.append(sock)
                sock.sendall(f"GET /events?format=csv&scope=all HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                got = b""
                while len(got) < 200:
                    block = sock.recv(200 - len(got))
                    assert block, "the server closed the export"
                    got += block
                assert got.startswith(b"HTTP/1.1 200"), got
            deadline = time.monotonic() + 10
            while (busy := _copies_on_the_pool(conn)) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling for the COPYs to end
            assert not busy, busy
            started = time.monotonic()
            response = httpx.get(f"{url}/events/bulk-1", timeout=5)
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < 3
        finally:
            for sock in stalled:
                sock.close()


# -- the import ---------------------------------------------------------------------------------------


def test_admin_import_reads_the_streamed_csv(server, template, conn):
    def rows() -> Iterator[bytes]:
        yield b"email,name\n"
        for i in range(500):
            yield f"imported-{i}@example.edu,Imported {i}\n".encode()

    headers = {**bearer(template, "admin"), "Content-Type": "text/csv"}
    response = httpx.post(f"{server}/admin/users/import", content=rows(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 500
    assert conn.execute("SELECT count(*) AS n FROM users WHERE email LIKE 'imported-%%'").fetchone()["n"] == 500


def test_import_by_a_non_admin_is_refused_before_the_body_is_read(server, template, conn):
    """The request announces 100 MB and sends a few bytes: an answer at all means the server
    decided without waiting for the rest of the body."""
    host, port = server.removeprefix("http://").split(":")
    head = (
        "POST /admin/users/import HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Bearer {template.tokens['staff']}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {100 * 1000 * 1000}\r\n\r\n"
        "email,name\nsneaky@example.edu,Sneaky\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.status == 403
        assert json.loads(answer.read())["type"] == "urn:eventreg:problem:denied"
    assert conn.execute("SELECT count(*) AS n FROM users WHERE email = 'sneaky@example.edu'").fetchone()["n"] == 0


# -- operations --------------------------------------------------------------------------------------


def test_healthz_and_readyz_on_a_migrated_database(server):
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server}/readyz").json() == {"status": "ready"}


def test_readyz_is_503_while_a_migration_is_pending(server, conn):
    conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    doc = assert_problem(httpx.get(f"{server}/readyz"), 503, "unavailable")
    assert "1 pending migration" in doc["detail"]
    assert httpx.get(f"{server}/healthz").status_code == 200  # up, not ready


def test_readyz_says_a_database_was_never_migrated(env, admin_url):
    name = f"eventreg_bare_{uuid.uuid4().hex[:8]}"
    url = support.create_database(admin_url, name)
    try:
        with running(create_app(load_settings(), url)) as base:
            doc = assert_problem(httpx.get(f"{base}/readyz"), 503, "unavailable")
            assert "never migrated" in doc["detail"]
    finally:
        support.drop_database(admin_url, name)


def test_readyz_says_the_database_is_unreachable_and_nothing_about_where_it_is(env, caplog):
    caplog.set_level(logging.INFO, logger="eventreg.server")
    url = "host=127.0.0.1 port=1 dbname=nowhere user=app_role password=hunter2secret connect_timeout=2"
    with running(create_app(load_settings(), url)) as base:
        doc = assert_problem(httpx.get(f"{base}/readyz"), 503, "unavailable")
    assert "unreachable" in doc["detail"]
    for secret in ("hunter2secret", "app_role", "nowhere", "127.0.0.1", "port"):
        assert secret not in doc["detail"], secret
    reasons = [r.getMessage() for r in caplog.records if r.getMessage().startswith("readyz:")]
    assert reasons and "nowhere" in reasons[0] and "hunter2secret" not in reasons[0]  # the operator's log says


def test_probes_that_arrive_together_share_one_readiness_check(env, db, monkeypatch):
    """The check connects to the database outside the pool; 20 probes at once must not open 20
    connections. The planted check holds until every probe has reached the server."""
    from eventreg.server.routes import ops

    app = create_app(load_settings(), db)
    arrived, running_checks, most = [0], [0], [0]
    lock = threading.Lock()

    @app.middleware("http")
    async def count(request: Any, call_next: Any) -> Any:
        arrived[0] += 1
        return await call_next(request)

    def held(*args: Any) -> str | None:
        with lock:
            running_checks[0] += 1
            most[0] = max(most[0], running_checks[0])
        support.poll(lambda: True if arrived[0] >= 20 else None, "every probe reaching the server")
        with lock:
            running_checks[0] -= 1
        return real(*args)

    real = ops.not_ready
    monkeypatch.setattr(ops, "not_ready", held)
    with running(app) as url, concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: httpx.get(f"{url}/readyz", timeout=30), range(20)))
    assert [a.json() for a in answers] == [{"status": "ready"}] * 20
    assert most[0] == 1


def test_docs_load_their_assets_from_this_server_only(server):
    page = httpx.get(f"{server}/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    # the bundle's default would send the document's URL to validator.swagger.io off localhost
    assert re.search(r'"validatorUrl":\s*null', page.text), "Swagger UI's validator is not turned off"
    assert "validator.swagger.io" not in page.text
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    spec = re.search(r"url: '([^']+)'", page.text)
    assert links and spec
    for link in [*links, spec.group(1)]:
        assert link.startswith("/"), link
        assert httpx.get(server + link).status_code == 200, link
    translated = httpx.get(server + spec.group(1)).json()
    assert translated["openapi"].startswith("3.0")
    assert '{"type": "null"}' not in json.dumps(translated)  # the 3.1-only null type is gone
    assert httpx.get(f"{server}/openapi.json").json()["openapi"].startswith("3.1")


# -- the request log ------------------------------------------------------------------------------------


def test_one_log_line_per_request_with_the_route_template_and_no_secret(server, template, caplog):
    caplog.set_level(logging.INFO, logger="eventreg.server")
    token = template.tokens["student"]
    people = template.people
    httpx.post(f"{server}/auth/login", json={"email": "student@example.edu", "password": PASSWORD})
    httpx.get(f"{server}/events/student@example.edu", headers=bearer(template, "student"))
    httpx.post(f"{server}/auth/reset/answers", json={"email": "student@example.edu", "answers": ["Blue", "Rex"],
                                                     "new_password": "another-password-1"})  # fmt: skip
    lines = _lines_for(caplog, 3)
    assert [line.split()[:2] for line in lines] == [
        ["method=POST", "route=/auth/login"],
        ["method=GET", "route=/events/{ref}"],
        ["method=POST", "route=/auth/reset/answers"],
    ]
    assert "status=200" in lines[0] and "status=404" in lines[1] and "status=204" in lines[2]
    assert f"user={people['student'].id}" in lines[1] and "duration_ms=" in lines[1] and "client=127.0.0.1" in lines[1]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, token, "another-password-1", "Blue", "Rex", "student@example.edu"):
        assert secret not in everything


def _lines_for(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The request lines, once `count` of them are in (the server logs after it answers)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "eventreg.server" and "route=" in r.getMessage()]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


# -- limits on attempts --------------------------------------------------------------------------------


def test_logins_from_one_client_over_the_limit_get_429_with_retry_after(server):
    from eventreg.auth.service import MAX_CLIENT_ATTEMPTS

    with httpx.Client(base_url=server) as client:
        for i in range(MAX_CLIENT_ATTEMPTS):  # different addresses: only the per-client count trips
            response = client.post("/auth/login", json={"email": f"guess-{i}@example.edu", "password": "wrong-pass"})
            assert_problem(response, 401, "denied")
        response = client.post("/auth/login", json={"email": "student@example.edu", "password": PASSWORD})
    doc = assert_problem(response, 429, "denied")
    assert type(errors.from_problem(doc["type"], doc["status"], doc["detail"])) is errors.TooManyAttempts
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


def test_sign_ups_hash_nothing_until_they_can_succeed_and_one_address_gets_a_bounded_number(server, conn, monkeypatch):
    """Anyone may sign up, and a sign-up costs three bcrypt hashes: a request that will fail
    (a bad question, a taken address) costs none, and an address over its window's budget
    gets 429 before any hashing."""
    from eventreg import passwords
    from eventreg.auth.service import MAX_SIGNUPS_PER_CLIENT

    hashed: list[int] = []
    real = passwords.hash_secret
    monkeypatch.setattr(passwords, "hash_secret", lambda *a, **k: hashed.append(1) or real(*a, **k))
    answers = [{"key": 1, "answer": "Blue"}, {"key": 2, "answer": "Rex"}]

    def sign_up(email: str, keys: tuple[int, int] = (1, 2)) -> httpx.Response:
        chosen = [{"key": k, "answer": a["answer"]} for k, a in zip(keys, answers, strict=True)]
        body = {"email": email, "name": "New Student", "password": PASSWORD, "answers": chosen}
        return httpx.post(f"{server}/auth/signup", json=body)

    assert_problem(sign_up("fresh@example.edu", keys=(1, 999)), 422, "invalid-input")
    assert_problem(sign_up("student@example.edu"), 409, "refused")
    assert hashed == []
    assert sign_up("fresh@example.edu").status_code == 201 and len(hashed) == 3
    conn.execute("UPDATE auth_throttle SET attempts = %s WHERE path = 'signup'", (MAX_SIGNUPS_PER_CLIENT,))
    response = sign_up("another@example.edu")
    assert_problem(response, 429, "denied")
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert len(hashed) == 3 and conn.execute("SELECT count(*) AS n FROM users WHERE email = 'another@example.edu'")\
        .fetchone()["n"] == 0  # fmt: skip


def test_an_address_over_its_limit_costs_no_bcrypt_even_for_an_account_over_its_own(server, conn, monkeypatch):
    """A reviewer, out of attempts, kept naming one held account: each 429 still cost a dummy
    bcrypt. Over its own limit, an address learns nothing of accounts either way: no bcrypt."""
    from eventreg import passwords
    from eventreg.auth.service import MAX_ATTEMPTS, MAX_CLIENT_ATTEMPTS

    checked: list[int] = []
    real = passwords.verify
    monkeypatch.setattr(passwords, "verify", lambda *a, **k: checked.append(1) or real(*a, **k))
    conn.execute(
        "INSERT INTO auth_throttle (path, subject, attempts, window_started_at) VALUES"
        " ('login', 'student@example.edu', %s, clock_timestamp()), ('client', '127.0.0.1', %s, clock_timestamp())",
        (MAX_ATTEMPTS, MAX_CLIENT_ATTEMPTS),
    )
    for _ in range(3):
        response = httpx.post(f"{server}/auth/login", json={"email": "student@example.edu", "password": "wrong-pass"})
        assert_problem(response, 429, "denied")
    assert checked == []


# -- concurrency ------------------------------------------------------------------------------------------


def test_two_clients_racing_for_the_last_seat_one_gets_it(server, template, conn):
    slug = event_by(server, template.tokens["staff"], capacity=1)
    tokens = [template.tokens["student"], new_student(server)]
    barrier = threading.Barrier(len(tokens))
    results: list[httpx.Response] = []

    def take(token: str) -> None:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}) as client:
            barrier.wait()
            results.append(client.post(f"/events/{slug}/registrations"))

    threads = [threading.Thread(target=take, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The seat is decided in take_place() under the event row's lock (SELECT ... FOR UPDATE),
    # and the events_seats_within_capacity CHECK would refuse a second seat even if it were not.
    assert sorted(r.json()["status"] for r in results) == ["registered", "waitlisted"]
    row = conn.execute("SELECT registered_count, waitlist_length FROM events WHERE slug = %s", (slug,)).fetchone()
    assert (row["registered_count"], row["waitlist_length"]) == (1, 1)


def test_a_request_that_finds_no_free_connection_is_503_busy_with_retry_after(env, db, conn, template, monkeypatch):
    monkeypatch.setenv("EVENTREG_CONNECT_WAIT_S", "0.3")
    with running(create_app(load_settings(), db, pool_size=1)) as base:
        slug = event_by(base, template.tokens["staff"])
        with connect(db) as holder:  # hold the event's row lock: a registration waits on it
            holder.execute("SELECT id FROM events WHERE slug = %s FOR UPDATE", (slug,))
            waiting: list[httpx.Response] = []
            blocked = threading.Thread(
                target=lambda: waiting.append(
                    httpx.post(f"{base}/events/{slug}/registrations", headers=bearer(template, "student"))
                )
            )
            blocked.start()
            _until(lambda: _waits_on_a_lock(conn))  # the pool's one connection is now busy
            response = httpx.get(f"{base}/events")
            holder.rollback()
        blocked.join()
    doc = assert_problem(response, 503, "unavailable")
    assert doc["detail"] == "server is busy" and int(response.headers["Retry-After"]) >= 1
    assert waiting[0].status_code == 201  # the waiting registration went through once the lock was gone


def _waits_on_a_lock(conn: Any) -> bool:
    row = conn.execute(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'eventreg-server'"
        " AND wait_event_type = 'Lock'"
    ).fetchone()
    return bool(row["n"])


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.01)


def test_an_unexpected_error_is_a_generic_500_logged_once_without_secrets(env, db, conn, admin_url, caplog):
    # a role that may connect but read no table: its first query fails in a way nothing maps
    role, secret = f"noaccess_{uuid.uuid4().hex[:8]}", "pw-very-secret-1"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(secret)))
    caplog.set_level(logging.INFO, logger="eventreg.server")
    try:
        with running(create_app(load_settings(), make_conninfo(db, user=role, password=secret))) as base:
            response = httpx.get(f"{base}/events")
            lines = _lines_for(caplog, 1)
    finally:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    doc = assert_problem(response, 500, "unavailable")
    assert doc["detail"] == "internal error"
    assert "status=500" in lines[0]
    reports = [r for r in caplog.records if r.name == "eventreg.server" and "unexpected" in r.getMessage()]
    assert len(reports) == 1 and "InsufficientPrivilege" in reports[0].getMessage()
    assert all(secret not in r.getMessage() for r in caplog.records)


def test_an_unexpected_error_never_logs_the_embedded_signing_secret(env, db, tmp_path, caplog):
    """With no JWT_SECRET the secret is the one generated in EVENTREG_HOME; an error whose text
    carries it (planted here) is logged with it removed, as a configured secret would be."""
    from eventreg.config import Settings

    caplog.set_level(logging.INFO, logger="eventreg.server")
    settings = Settings(env="dev", home=tmp_path / "home", values={})
    secret = settings.secret()
    app = create_app(settings, db)

    @app.get("/planted/leak")
    def leak() -> None:
        raise RuntimeError(f"signing with {secret}")

    with running(app) as url:
        assert_problem(httpx.get(f"{url}/planted/leak"), 500, "unavailable")
        _lines_for(caplog, 1)
    reports = [r.getMessage() for r in caplog.records if "unexpected" in r.getMessage()]
    assert len(reports) == 1 and "signing with" in reports[0]
    assert all(secret not in r.getMessage() for r in caplog.records)


def test_text_that_is_not_unicode_is_a_422_problem_without_a_traceback(env, db, caplog):
    """A lone surrogate in a JSON string: the domain refuses it where it checks (the password at
    sign-in), and where code that nothing checks encodes it (planted here as a route of the same
    app, on a real server), the server's net answers 422, not an "internal error"."""
    caplog.set_level(logging.INFO, logger="eventreg.server")
    app = create_app(load_settings(), db)

    @app.post("/planted/encode")
    def planted(body: dict[str, str]) -> dict[str, int]:
        return {"bytes": len(body["text"].encode("utf-8"))}  # as bcrypt or psycopg would

    @app.post("/planted/deep")
    def deep() -> None:
        def down(n: int) -> int:
            return down(n + 1)

        down(0)

    headers = {"Content-Type": "application/json"}
    with running(app) as url:
        login = b'{"email":"a@example.edu","password":"abc\\ud800defghij"}'
        assert_problem(httpx.post(f"{url}/auth/login", content=login, headers=headers), 422, "invalid-input")
        planted_body = b'{"text":"abc\\ud800def"}'
        doc = assert_problem(
            httpx.post(f"{url}/planted/encode", content=planted_body, headers=headers), 422, "invalid-input"
        )
        assert doc["detail"] == "the request contains text that is not valid Unicode"
        assert_problem(httpx.post(f"{url}/planted/deep"), 422, "invalid-input")
        lines = _lines_for(caplog, 3)  # the server logs a request after it has answered it
    assert [line.split()[2] for line in lines] == ["status=422"] * 3
    messages = [r.getMessage() for r in caplog.records if r.name == "eventreg.server"]
    assert not [m for m in messages if "unexpected" in m or "Traceback" in m]


# -- the serve command ----------------------------------------------------------------------------------


def test_serve_without_the_server_packages_exits_5_naming_the_extra(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", None)  # as if never installed
    result = cli("serve")
    assert result.exit_code == errors.EXIT_UNAVAILABLE
    assert "pip install 'eventreg[server]'" in result.stderr


def test_help_and_version_do_not_import_the_server_packages():
    code = (
        "import sys\nfrom eventreg.cli.app import run\nrun(['--help']); run(['--version'])\n"
        "loaded = [m for m in ('fastapi', 'uvicorn', 'pydantic', 'psycopg_pool') if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_serve_says_where_it_listens_warns_of_pending_migrations_and_answers(env, conn):
    conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    with socket.socket() as probe:  # a port free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "eventreg", "serve", "--port", str(port), "--workers", "2", "--pool-size", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)  # two worker processes, by the factory
    try:
        _until(lambda: _answers(f"http://127.0.0.1:{port}/healthz") or process.poll() is not None, timeout=30)
        assert process.poll() is None, "serve exited"
        assert_problem(httpx.get(f"http://127.0.0.1:{port}/readyz"), 503, "unavailable")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert f"serving http://127.0.0.1:{port} (2 worker(s), at most 2 database connection(s) each)" in stderr
    assert "database eventreg_t_" in stderr  # which database, described (never its password)
    assert "1 pending migration" in stderr
    assert "route=/readyz status=503" in stderr  # the request log goes to stderr


def test_serve_refuses_a_pool_size_out_of_range(env):
    done = subprocess.run(
        [sys.executable, "-m", "eventreg", "serve", "--pool-size", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--pool-size must be between 1 and 100" in done.stderr


def test_serve_refuses_a_concurrency_limit_out_of_range(cli):
    result = cli("serve", "--limit-concurrency", "0")
    assert result.exit_code == errors.EXIT_USAGE
    assert "--limit-concurrency must be between 1 and 100000" in result.stderr


def test_serve_on_a_port_in_use_or_a_foreign_host_is_one_line_before_anything_starts(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("serve", "--port", str(port))
    assert busy.exit_code == errors.EXIT_UNAVAILABLE, busy.output
    assert busy.stderr.splitlines() == [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "serving" not in busy.output
    foreign = cli("serve", "--host", "192.0.2.1", "--port", "8000")  # TEST-NET-1: never this machine's
    assert foreign.exit_code == errors.EXIT_UNAVAILABLE and "cannot listen on 192.0.2.1:8000" in foreign.stderr
    assert cli("serve", "--port", "0").exit_code == errors.EXIT_USAGE  # it would announce a port it does not use


def _raw_request(base: str, head: bytes) -> int:
    """The status of the answer to a request sent as these bytes on a fresh connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status


BIG_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * (64 << 10) + b"\r\n\r\n"


def test_a_request_head_over_16_kib_is_refused_with_431(server):
    assert _raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: abc\r\n\r\n") == 200
    assert _raw_request(server, BIG_HEAD) == 431  # a head that arrived whole: HeadLimit
    response = httpx.get(f"{server}/events", headers={"X-Padding": "a" * (17 << 10)})
    assert_problem(response, 431, "invalid-input")


def test_an_endless_request_head_is_cut_off(server):
    """A head that keeps coming is refused once 16 KiB of it are unfinished (h11), not read on:
    the server answers, or drops the connection, before the client has sent 4 MiB."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < 4 << 20:
                sock.sendall(b"a" * (64 << 10))
                sent += 64 << 10
        assert sent < 4 << 20
        with contextlib.suppress(ConnectionError):
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            assert answer.status in (400, 431)


def test_serve_answers_503_beyond_its_concurrency_limit_without_tracebacks(env):
    """Idle connections past --limit-concurrency: a further request is refused at once with a
    503, and the log says so in a line, not a traceback; a 64 KiB header is refused too."""
    with socket.socket() as probe:  # a port free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "eventreg", "serve", "--port", str(port), "--limit-concurrency", "5"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    idle: list[socket.socket] = []
    try:
        _until(lambda: _answers(f"{base}/healthz") or process.poll() is not None, timeout=30)
        assert process.poll() is None, "serve exited"
        assert _raw_request(base, BIG_HEAD) in (400, 431)
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
            idle.append(sock)
        started = time.monotonic()
        response = httpx.get(f"{base}/healthz", timeout=5)
        assert response.status_code == 503
        assert time.monotonic() - started < 3
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "Exceeded concurrency limit" in stderr
    assert "Traceback" not in stderr and "Too many open files" not in stderr
    assert len(stderr) < 20_000, stderr[-2000:]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


def test_pooled_sessions_start_in_utc_with_the_statement_timeout(env, db, monkeypatch):
    """As a command's own connection does: a lock wait ends with an error, not a hang."""
    from eventreg.server.app import _pool

    monkeypatch.setenv("EVENTREG_STATEMENT_TIMEOUT_MS", "1234")
    pool = _pool(load_settings(), db, 1)
    pool.open(wait=True)
    try:
        with pool.connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "1234ms"
            assert conn.execute("SHOW TimeZone").fetchone()["TimeZone"] == "UTC"
    finally:
        pool.close()
