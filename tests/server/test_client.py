"""The remote client: where it may send a token, what it does when the server is down or
answers oddly, and that sessions behave over HTTP as they do on the database.

Servers that misbehave are small `http.server` servers on 127.0.0.1 in a thread:
real sockets, answering what each test needs (a redirect, an HTML page, nothing).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from eventreg.api.origin import parse_origin
from eventreg.api.remote import RemoteApi, _safe_csv
from eventreg.cli.credentials import SERVICE, server_key
from eventreg.errors import InvalidInput, Unavailable
from tests.conftest import PASSWORD, Cli, MemoryKeyring

Handler = Callable[[BaseHTTPRequestHandler], None]
QUESTIONS = [{"key": 1, "text": "Colour?"}]


class Odd:
    """A tiny HTTP/1.1 server: `routes[(method, path)]` answers; it counts requests and connections."""

    def __init__(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Authorization
        self.connections = 0
        self.closed = 0  # connections the server has shut
        self.errors = 0  # requests whose handling broke off (the client went away)
        self.release = threading.Event()  # what a slow answer waits for
        odd = self

        class Serve(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                odd.connections += 1
                super().setup()

            def _any(self) -> None:
                path = self.path.split("?", 1)[0]
                odd.requests.append((self.command, path, self.headers.get("Authorization")))
                odd.routes.get((self.command, path), _not_found)(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                return None

        class Httpd(ThreadingHTTPServer):
            def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
                super().shutdown_request(request)
                odd.closed += 1

            def handle_error(self, request: object, client_address: object) -> None:
                # A client that gives up mid-answer breaks the pipe here. socketserver would print
                # that traceback to sys.stderr, which is the in-process command's captured stderr
                # while it runs: the command would seem to have shown a traceback.
                odd.errors += 1

        self.httpd = Httpd(("127.0.0.1", 0), Serve)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def wait_closed(self, count: int) -> None:
        """Poll until the server has shut `count` connections (as an idle timeout would have)."""
        deadline = time.monotonic() + 5
        while self.closed < count:
            assert time.monotonic() < deadline, "the server never closed the connection"
            time.sleep(0.001)

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", headers.pop("length", str(len(body))))
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def _not_found(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 404, b"<html>no</html>", "text/html")


def _questions(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, json.dumps(QUESTIONS).encode(), "application/json")


def _read_body(handler: BaseHTTPRequestHandler) -> None:
    handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


@pytest.fixture
def odd() -> Iterator[Callable[[dict[tuple[str, str], Handler]], Odd]]:
    made: list[Odd] = []

    def make(routes: dict[tuple[str, str], Handler]) -> Odd:
        made.append(Odd(routes))
        return made[-1]

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def client_env(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A client that holds no database URL and no signing secret."""
    for key in ("DATABASE_URL", "DATABASE_URL_TEST", "JWT_SECRET"):
        monkeypatch.delenv(key)
    return env


@pytest.fixture
def served(server: str, env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test server's origin, and a client that holds no database URL or secret (taken
    away after the server, which runs in this process, has read its settings)."""
    for key in ("DATABASE_URL", "DATABASE_URL_TEST", "JWT_SECRET"):
        monkeypatch.delenv(key)
    return server


@pytest.fixture
def remote_cli(served: str, monkeypatch: pytest.MonkeyPatch, template) -> Cli:
    monkeypatch.setenv("EVENTREG_SERVER", served)
    return Cli(monkeypatch, template)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- where a token may go -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://reg.example.edu",
        "reg.example.edu",
        "https://",
        "https://reg.example.edu/eventreg",
        "https://reg.example.edu?next=1",
        "https://reg.example.edu#top",
        "https://reg.example.edu:99999",
        "https://reg.example.edu:port",
        "https://reg.example.edu:0",
        "https://[::1",
        "https://[not-ipv6]",
        "https://reg example.edu",
    ],
)
def test_a_bad_server_address_is_refused_with_exit_2(raw: str, client_env: Path, cli: Cli, monkeypatch):
    by_flag = cli("auth", "login", "--server", raw, "--email", "a@example.edu", "--password-stdin", input="x\n")
    monkeypatch.setenv("EVENTREG_SERVER", raw)
    by_env = cli("event", "list")
    for result, where in ((by_flag, "--server"), (by_env, "EVENTREG_SERVER")):
        assert result.exit_code == 2, result.output
        assert where in result.stderr and "Traceback" not in result.output


def test_a_password_in_the_server_address_is_refused_and_never_shown(client_env: Path, cli: Cli, monkeypatch):
    monkeypatch.setenv("EVENTREG_SERVER", "https://ana:hunter2secret@reg.example.edu")
    result = cli("event", "list")
    assert result.exit_code == 2 and "user name or password" in result.stderr
    assert "hunter2secret" not in result.output


@pytest.mark.parametrize("raw", ["https://REG.example.edu:443/", "http://localhost:8000", "http://[::1]:8000",
                                 "http://127.0.0.2", "https://[2001:db8::1]:8443"])  # fmt: skip
def test_good_server_addresses_become_their_origin(raw: str):
    origin = parse_origin(raw, "test")
    assert str(origin) == raw.lower().rstrip("/").replace(":443", "")


def test_http_to_another_machine_is_refused_unless_insecure(client_env: Path, cli: Cli, monkeypatch):
    """192.0.2.1 is a documentation address nobody answers on: once allowed, the client tries and fails (5)."""
    monkeypatch.setenv("EVENTREG_SERVER_TIMEOUT_S", "0.5")
    login = ["auth", "login", "--server", "http://192.0.2.1", "--email", "a@example.edu", "--password-stdin"]
    refused = cli(*login, input="pw\n")
    assert refused.exit_code == 2 and "in clear" in refused.stderr and "--insecure" in refused.stderr
    allowed = cli(*login, "--insecure", input="pw\n")
    assert allowed.exit_code == 5 and "http://192.0.2.1" in allowed.stderr
    monkeypatch.setenv("EVENTREG_SERVER", "http://192.0.2.1")
    assert cli("event", "list").exit_code == 2
    monkeypatch.setenv("EVENTREG_INSECURE", "1")
    assert cli("event", "list").exit_code == 5


def test_a_dotenv_cannot_point_the_client_at_a_server(client_env: Path, cli: Cli, db: str, tmp_path: Path):
    (tmp_path / ".env").write_text(f"DATABASE_URL_TEST={db}\nEVENTREG_SERVER=http://127.0.0.1:{_free_port()}\n")
    listed = cli("event", "list")
    assert listed.exit_code == 0, listed.output  # the database, not the planted server


def test_a_dotenv_cannot_hand_the_client_a_token(env: Path, cli: Cli, template, tmp_path: Path):
    (tmp_path / ".env").write_text(f"EVENTREG_TOKEN={template.tokens['admin']}\n")
    status = cli.as_role(None)("auth", "status")
    assert status.exit_code == 3, status.output  # someone else's session planted in a folder is not used


def test_a_dotenv_home_cannot_plant_the_server_that_gets_the_password_nor_keep_the_token(
    env: Path, cli: Cli, tmp_path: Path, monkeypatch, odd
):
    """A project's .env names an EVENTREG_HOME whose `server` file points at a server of its
    own (`insecure` too): the password must not go there, nor the token into that folder."""
    planted = odd({})  # records whatever reaches it
    home = tmp_path / "planted"
    home.mkdir()
    (home / "server").write_text(f"{planted.origin}\ninsecure\n")
    (tmp_path / ".env").write_text(f"EVENTREG_HOME={home}\n")
    monkeypatch.delenv("EVENTREG_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "platform"))  # the platform's folder, not the real one
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # no keyring: the token goes to the fallback file
    try:
        done = cli.as_role(None)("auth", "login", "--email", "student@example.edu", "--password-stdin",
                                 input=f"{PASSWORD}\n")  # fmt: skip
    finally:
        keyring.set_keyring(previous)
    assert planted.requests == [] and planted.connections == 0
    assert done.exit_code == 0, done.output  # signed in on the database the environment names
    assert not (home / "private").exists()  # the token is not left in the project's folder
    tokens = list((tmp_path / "platform" / "eventreg" / "private" / "tokens").iterdir())
    assert len(tokens) == 1 and str(tokens[0]) in done.stderr


def test_db_commands_need_the_database_when_only_a_server_is_set(client_env: Path, cli: Cli, monkeypatch, db):
    monkeypatch.setenv("EVENTREG_SERVER", "https://reg.example.edu")
    for args in (["db", "status"], ["db", "migrate"], ["db", "doctor"], ["db", "seed"], ["db", "server", "start"]):
        result = cli(*args)
        assert result.exit_code == 5, (args, result.output)
        assert "db commands need the database itself" in result.stderr
        assert "https://reg.example.edu" in result.stderr
    monkeypatch.setenv("DATABASE_URL_TEST", db)  # an operator who holds the database may
    assert cli("db", "status").exit_code == 0


# -- a server that is down or answers oddly ------------------------------------------------------------


def test_a_server_that_is_down_is_exit_5_naming_it(client_env: Path, cli: Cli, monkeypatch):
    origin = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("EVENTREG_SERVER", origin)
    for args in (["event", "list"], ["auth", "status"], ["event", "list", "--all", "--csv"]):
        result = cli(*args)
        assert result.exit_code == 5 and origin in result.stderr, result.output
        assert "Traceback" not in result.output and result.stdout == ""


def _redirect(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 302, b"", "text/html", Location="https://login.example.edu/sso")


def _html(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, b"<html><body>Captive portal</body></html>", "text/html")


def _bad_gateway(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 502, b"<html>Bad Gateway</html>", "text/html")


def _broken_json(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, b'{"items": [', "application/json")


def _huge(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, b"[]", "application/json", length=str(17 * 2**20))


def _wrong_shape(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, b'{"items": [{"id": 1}], "next": null}', "application/json")


@pytest.mark.parametrize(
    "answer, words",
    [
        (_redirect, "redirect"),
        (_html, "text/html"),
        (_bad_gateway, "502"),
        (_broken_json, "does not parse"),
        (_huge, "16 MiB"),
        (_wrong_shape, "does not understand"),
    ],
)
def test_an_answer_that_is_not_eventreg_is_exit_5(answer: Handler, words: str, client_env, cli: Cli, monkeypatch, odd):
    server = odd({("GET", "/events"): answer})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    result = cli("event", "list")
    assert result.exit_code == 5, result.output
    assert server.origin in result.stderr and words in result.stderr
    assert "Traceback" not in result.output and "Captive" not in result.output


def test_a_slow_server_hits_the_deadline(client_env: Path, cli: Cli, monkeypatch, odd):
    def slow(handler: BaseHTTPRequestHandler) -> None:
        server.release.wait(30)  # until the test is over: the client must give up first
        _questions(handler)

    server = odd({("GET", "/auth/questions"): slow})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    monkeypatch.setenv("EVENTREG_SERVER_TIMEOUT_S", "0.3")
    result = cli("auth", "questions")
    assert result.exit_code == 5 and "did not answer within 0.3s" in result.stderr


class Trickle:
    """A TCP server on 127.0.0.1 that reads a request and answers `head` at once, then `drip`
    a byte every `every` seconds, for as long as the test runs: each byte comes well within the
    client's limit, the whole answer never."""

    def __init__(self, head: bytes, drip: bytes, every: float = 0.2) -> None:
        self.head, self.drip, self.every = head, drip, every
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.origin = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                block = conn.recv(4096)
                if not block:
                    return
                request += block
            try:
                conn.sendall(self.head)
                while not self.stopping.wait(self.every):
                    conn.sendall(self.drip)
            except OSError:
                return  # the client gave up and closed

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)
        self.listener.close()


@pytest.mark.parametrize(
    "head, drip",
    [
        (b"", b"H"),  # the status line itself, a byte at a time
        (b"HTTP/1.1 200 OK\r\nX-Padding: ", b"a"),  # one endless header
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", b"0"),
    ],
    ids=["status-line", "headers", "chunk-size"],
)
def test_a_server_trickling_its_answer_cannot_outlast_the_deadline(head: bytes, drip: bytes, tmp_path: Path):
    trickle = Trickle(head, drip)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTREG_", "DATABASE_URL"))}
    environ.update(EVENTREG_SERVER=trickle.origin, EVENTREG_SERVER_TIMEOUT_S="1", EVENTREG_HOME=str(tmp_path / "h"),
                   PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", NO_COLOR="1")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "eventreg", "event", "list"], cwd=tmp_path, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=60)  # a bound for a stuck test, far above the 1 s limit
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the command was still waiting for the trickling server after 60 s")
    finally:
        trickle.stop()
    assert proc.returncode == 5, err
    assert f"the server {trickle.origin} did not answer within 1s" in err and out == ""
    assert "Traceback" not in err


def test_a_problem_never_shows_the_token(client_env: Path, cli: Cli, monkeypatch, odd, template):
    token = template.tokens["student"]

    def echo(handler: BaseHTTPRequestHandler) -> None:  # a careless server repeats the header
        detail = f"bad credentials: {handler.headers.get('Authorization')}"
        body = json.dumps({"type": "urn:eventreg:problem:denied", "title": "Denied", "status": 401, "detail": detail})
        _send(handler, 401, body.encode(), "application/problem+json")

    server = odd({("GET", "/users/me"): echo})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    cli.as_token(token)
    for args in (["user", "show"], ["--debug", "user", "show"]):
        result = cli(*args)
        assert result.exit_code == 3 and "bad credentials" in result.stderr
        assert token not in result.output
    assert server.requests[0][2] == f"Bearer {token}"  # it was sent, to that server only


def test_no_error_over_a_real_server_shows_the_token(remote_cli: Cli, template):
    token = template.tokens["student"]
    cli = remote_cli.as_token(token)
    for args, code in ((["event", "show", "no-such-event"], 4), (["admin", "users", "list"], 3),
                       (["register", "for", "no-such-event"], 4), (["--debug", "event", "create", "--title", "x",
                        "--capacity", "1", "--starts-at", "2099-01-01T10:00"], 3)):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == code, (args, result.output)
        assert token not in result.output


# -- the connection ----------------------------------------------------------------------------------


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_resending(odd):
    def close_after(handler: BaseHTTPRequestHandler, answer: Handler) -> None:
        if handler.command == "POST":
            _read_body(handler)
        answer(handler)
        handler.close_connection = True  # as an idle timeout would, without saying so

    def login_answer(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"revoked_sessions": 0}).encode()
        _send(handler, 200, body, "application/json")

    server = odd({
        ("GET", "/auth/questions"): lambda h: close_after(h, _questions),
        ("POST", "/auth/logout"): lambda h: close_after(h, login_answer),
    })  # fmt: skip
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: None, timeout_s=5)
    try:
        assert [q.key for q in api.questions()] == [1]
        server.wait_closed(1)
        assert api.logout() == 0
        server.wait_closed(2)
        assert api.logout() == 0
        server.wait_closed(3)
        assert [q.key for q in api.questions()] == [1]
    finally:
        api.close()
    assert [r[:2] for r in server.requests] == [("GET", "/auth/questions"), ("POST", "/auth/logout"),
                                                ("POST", "/auth/logout"), ("GET", "/auth/questions")]  # fmt: skip
    assert server.connections == 4


def test_one_connection_serves_a_whole_command(odd):
    server = odd({("GET", "/auth/questions"): _questions})
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: None, timeout_s=5)
    try:
        for _ in range(5):
            api.questions()
    finally:
        api.close()
    assert server.connections == 1 and len(server.requests) == 5


def test_a_post_whose_answer_never_came_is_not_sent_again(odd):
    def vanish(handler: BaseHTTPRequestHandler) -> None:
        _read_body(handler)
        handler.close_connection = True  # took it, then closed without a word

    server = odd({("GET", "/auth/questions"): _questions, ("POST", "/events/x/registrations"): vanish})
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: None, timeout_s=5)
    try:
        api.questions()  # the connection is now a kept-alive one
        with pytest.raises(Unavailable, match="may have been carried out"):
            api.register("x")
    finally:
        api.close()
    assert [r[0] for r in server.requests].count("POST") == 1


def test_refs_are_one_path_segment(odd):
    seen: list[str] = []

    def record(handler: BaseHTTPRequestHandler) -> None:
        seen.append(handler.path)
        _not_found(handler)

    server = odd({})
    server.routes = _Everything(record)  # type: ignore[assignment]
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: None, timeout_s=5)
    try:
        with pytest.raises(Unavailable):
            api.show_user("a/b?c#d@example.edu")
    finally:
        api.close()
    assert seen == ["/admin/users/a%2Fb%3Fc%23d%40example.edu"]


class _Everything(dict):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler

    def get(self, key, default=None):  # type: ignore[override]
        return self.handler


def test_a_malformed_stored_token_is_not_sent(odd):
    server = odd({("GET", "/users/me"): _questions})
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: "abc\r\nX-Evil: 1", timeout_s=5)
    with pytest.raises(Exception) as caught:
        api.profile()
    assert "abc" not in str(caught.value) and server.requests == []


# -- sessions over the server ------------------------------------------------------------------------


def _stored(keyring_: MemoryKeyring, origin: str) -> str | None:
    return keyring_.store.get((SERVICE, f"session:{server_key(origin)}"))


def test_login_with_server_remembers_it_status_shows_it_and_logout_keeps_it(
    served: str, env: Path, cli: Cli, memory_keyring: MemoryKeyring
):
    server, client_env = served, env
    asked = cli("auth", "login", "--server", server, "--email", "student@example.edu")
    assert asked.exit_code == 2 and f"password for {server}" in asked.stderr  # the prompt names the server
    done = cli("auth", "login", "--server", server, "--email", "student@example.edu", "--password-stdin",
               input=f"{PASSWORD}\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"(student) on {server} until" in done.stderr  # the login says where the session lives
    assert (client_env / "server").read_text().splitlines()[0] == server
    assert _stored(memory_keyring, server)
    status = cli("auth", "status")
    assert status.exit_code == 0 and f"Server\t{server}" in status.stdout, status.output
    as_json = json.loads(cli("auth", "status", "--json").stdout)
    assert as_json["server"] == server and as_json["email"] == "student@example.edu"
    assert as_json["token_storage"].startswith("keyring")
    assert cli("auth", "logout").exit_code == 0
    assert _stored(memory_keyring, server) is None
    assert (client_env / "server").read_text().splitlines()[0] == server
    after = cli("auth", "status")
    assert after.exit_code == 3  # asked the server, which knows no session


def test_logout_forget_server_goes_back_to_the_database(served: str, env: Path, cli: Cli):
    server, client_env = served, env
    done = cli("auth", "login", "--server", server, "--email", "student@example.edu", "--password-stdin",
               input=f"{PASSWORD}\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    out = cli("auth", "logout", "--forget-server")
    assert out.exit_code == 0 and f"Forgot the server {server}" in out.stderr, out.output
    assert not (client_env / "server").exists()
    status = cli("auth", "status")  # this client holds no database: it now says so, instead of asking the server
    assert status.exit_code == 5 and "needs DATABASE_URL" in status.stderr, status.output


def test_bootstrap_over_a_server_is_refused_before_asking_for_a_password(served: str, env: Path, cli: Cli, monkeypatch):
    monkeypatch.setenv("EVENTREG_SERVER", served)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = cli("admin", "bootstrap", "--email", "a@example.edu", "--name", "A")  # no password on stdin
    assert result.exit_code == 5, result.output
    assert "admin bootstrap needs the database itself" in result.stderr and "assword" not in result.stderr


def test_login_with_another_server_replaces_the_remembered_one(served: str, env: Path, cli: Cli):
    server, client_env = served, env
    other = f"http://127.0.0.1:{_free_port()}"
    (client_env).mkdir(parents=True, exist_ok=True)
    (client_env / "server").write_text(other + "\n")
    assert cli("event", "list").exit_code == 5  # the remembered one is down
    done = cli("auth", "login", "--server", server, "--email", "staff@example.edu", "--password-stdin",
               input=f"{PASSWORD}\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert (client_env / "server").read_text().splitlines()[0] == server
    assert cli("event", "list").exit_code == 0


def test_logging_in_as_someone_else_ends_the_replaced_session(served: str, cli: Cli, memory_keyring: MemoryKeyring):
    server = served
    login = ["auth", "login", "--server", server, "--password-stdin"]
    assert cli(*login, "--email", "student@example.edu", input=f"{PASSWORD}\n").exit_code == 0
    first = _stored(memory_keyring, server)
    assert first is not None
    assert cli(*login, "--email", "staff@example.edu", input=f"{PASSWORD}\n").exit_code == 0
    second = _stored(memory_keyring, server)
    assert second not in (None, first)
    assert json.loads(cli("auth", "status", "--json").stdout)["email"] == "staff@example.edu"
    stale = cli.as_token(first)("auth", "status")
    assert stale.exit_code == 3, stale.output
    assert first not in stale.output


def test_an_import_streams_many_blocks_and_a_bad_line_imports_nothing(remote_cli: Cli, tmp_path: Path, conn):
    rows = "".join(f"person{n:05d}@example.edu,Person Number {n} With A Longer Name\n" for n in range(3000))
    good = tmp_path / "many.csv"
    good.write_text("email,name\n" + rows)
    assert good.stat().st_size > 2 * 64 * 1024  # several blocks of the chunked body
    admin = remote_cli.as_role("admin")
    result = admin("user", "import", str(good))
    assert result.exit_code == 0 and "Imported 3000 user(s)" in result.stderr, result.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"email,name\n" + rows.replace("person", "other").encode() + b"late@example.edu,\xff\n")
    before = conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"]
    refused = admin("user", "import", str(bad))
    assert refused.exit_code == 2 and "not UTF-8" in refused.stderr, refused.output
    assert conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == before


def test_an_import_by_a_student_is_refused_before_the_body(remote_cli: Cli, tmp_path: Path):
    big = tmp_path / "big.csv"
    big.write_text("email,name\n" + "".join(f"s{n}@example.edu,S {n}\n" for n in range(40000)))
    result = remote_cli.as_role("student")("user", "import", str(big))
    assert result.exit_code == 3 and "admin role" in result.stderr, result.output


def test_errors_map_to_the_local_exit_codes(remote_cli: Cli):
    cli = remote_cli.as_role("student")
    assert cli("event", "show", "nope").exit_code == 4
    assert cli("admin", "users", "list").exit_code == 3
    assert cli("event", "list", "--limit", "0").exit_code == 2
    assert cli.as_role(None)("user", "show").exit_code == 3
    with pytest.raises(InvalidInput):
        parse_origin("https://x:bad", "test")


def test_reads_survive_a_server_that_closes_each_connection_at_once(odd):
    """The close races the next request: a GET that lost the race is sent again on a new connection."""

    def once(handler: BaseHTTPRequestHandler) -> None:
        _questions(handler)
        handler.close_connection = True

    server = odd({("GET", "/auth/questions"): once})
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: None, timeout_s=5)
    try:
        for _ in range(30):
            assert [q.key for q in api.questions()] == [1]
    finally:
        api.close()
    assert server.connections >= 30


# -- what a hostile server sends is held to the local rules -------------------------------------------


EVENT = {"id": 1, "slug": "talk", "title": "Talk", "description": "", "location": "Hall", "status": "published",
         "capacity": 10, "registered": 0, "available": 10, "waitlist": 0, "registration_opens_at": None,
         "starts_at": "2099-01-01T10:00:00+00:00", "ends_at": "2099-01-01T11:00:00+00:00",
         "registration_closes_at": None}  # fmt: skip
CSV_HEADING = b"id,title,location\n"
HOSTILE_ROWS = (
    b'1,=HYPERLINK("http://evil"),Hall\n'  # a formula, unquoted as a careless server writes it
    b'2,"+cmd|\' /C calc\'!A0","@SUM(1)"\n'
    b"3,\x1b]8;;http://evil\x1b\\\\click\x1b]8;;\x1b\\\\,\x1b[2J\n"  # a terminal link, a screen wipe
    b'4,"a\nb\r\n-2+3",\xff\xfe\n'  # a line break in a cell, bytes that are not UTF-8
    b"5,'=already safe,-3\n"  # what our own server sends: kept as it is
)
SAFE_ROWS = (
    '1,"\'=HYPERLINK(""http://evil"")",Hall\n'
    "2,'+cmd|' /C calc'!A0,'@SUM(1)\n"
    "3,\ufffd]8;;http://evil\ufffd\\\\click\ufffd]8;;\ufffd\\\\,\ufffd[2J\n"
    "4,a\ufffdb\ufffd\ufffd-2+3,\ufffd\ufffd\n"
    "5,'=already safe,-3\n"
)


def _csv_answer(body: bytes) -> Handler:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for start in range(0, len(body), 7000):  # in pieces, a character split between two of them
            handler.wfile.write(body[start : start + 7000])
            handler.wfile.flush()

    return answer


def test_an_export_through_a_hostile_server_is_made_safe_cell_by_cell(
    client_env: Path, cli: Cli, monkeypatch, odd, tmp_path: Path
):
    filler = b"".join(b"%d,Caf\xc3\xa9 number %d,Hall\n" % (n, n) for n in range(6, 9000))  # many blocks
    body = CSV_HEADING + filler + HOSTILE_ROWS + filler
    server = odd({("GET", "/events"): _csv_answer(body)})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    shown = cli("event", "list", "--all", "--csv")
    saved = cli("event", "list", "--all", "--csv", "-o", str(tmp_path / "events.csv"))
    for result in (shown, saved):
        assert result.exit_code == 0, result.output
    expected = (CSV_HEADING + filler).decode() + SAFE_ROWS + filler.decode()
    assert shown.stdout == expected
    assert (tmp_path / "events.csv").read_bytes() == expected.encode()
    assert "\x1b" not in shown.stdout and "\r" not in shown.stdout


def test_export_cells_are_made_safe_wherever_the_blocks_split():
    """Byte by byte: a character split between blocks, a formula in the very first cell."""
    body = b'=1+1,"-2",caf\xc3\xa9\n"@a,b",\xe2\x80\xae,"x\r\ny"\n' + CSV_HEADING + HOSTILE_ROWS
    expected = "'=1+1,-2,caf\u00e9\n\"'@a,b\",\ufffd,x\ufffd\ufffdy\n" + CSV_HEADING.decode() + SAFE_ROWS
    for size in (1, 2, 3, 5, len(body)):
        blocks = (body[i : i + size] for i in range(0, len(body), size))
        assert b"".join(_safe_csv(blocks, "the export")).decode() == expected


def test_an_export_that_is_not_csv_is_exit_5(client_env: Path, cli: Cli, monkeypatch, odd):
    huge_cell = b'id,title\n1,"' + b"x" * (200 * 1024) + b'"\n'  # over the csv module's cell limit
    server = odd({("GET", "/events"): _csv_answer(huge_cell)})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    result = cli("event", "list", "--all", "--csv")
    assert result.exit_code == 5 and server.origin in result.stderr, result.output
    assert "not CSV" in result.stderr and "Traceback" not in result.output


def _pages(next_of: Callable[[str | None], str | None]) -> Handler:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        query = dict(p.split("=", 1) for p in handler.path.partition("?")[2].split("&") if "=" in p)
        page = {"items": [EVENT], "next": next_of(query.get("after"))}
        _send(handler, 200, json.dumps(page).encode(), "application/json")

    return answer


@pytest.mark.parametrize(
    "next_of",
    [
        lambda after: "same",  # the cursor never moves
        lambda after: {None: "a", "a": "b", "b": "c"}.get(after, "a"),  # round in a circle
    ],
    ids=["same", "circle"],
)
def test_a_server_that_sends_a_page_cursor_twice_ends_all_with_exit_5(
    next_of: Callable[[str | None], str | None], client_env: Path, cli: Cli, monkeypatch, odd
):
    server = odd({("GET", "/events"): _pages(next_of)})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    for args in (["event", "list", "--all"], ["event", "list", "--all", "--json"]):
        result = cli(*args)
        assert result.exit_code == 5, result.output
        assert server.origin in result.stderr and "the same page cursor twice" in result.stderr
    assert len(server.requests) <= 2 * 4


def test_cursors_a_user_gives_again_start_a_new_walk(odd):
    server = odd({("GET", "/events"): _pages(lambda after: {None: "a", "a": "b"}.get(after))})
    api = RemoteApi(parse_origin(server.origin, "test"), lambda: None, timeout_s=5)
    try:
        from eventreg.views import EventsQuery

        for _ in range(2):  # the same walk twice in one command, from the start and from a cursor
            assert api.list_events(EventsQuery(), None, 1).next == "a"
            assert api.list_events(EventsQuery(), "a", 1).next == "b"
            assert api.list_events(EventsQuery(), "b", 1).next is None
        assert api.list_events(EventsQuery(), "a", 1).next == "b"
    finally:
        api.close()


def _json_answer(body: bytes, status: int = 200, kind: str = "application/json") -> Handler:
    return lambda handler: _send(handler, status, body, kind)


DEEP = b"[" * 100_000 + b"]" * 100_000
NESTED_DETAILS: object = []
for _ in range(40):
    NESTED_DETAILS = [NESTED_DETAILS]
HISTORY = {"id": 1, "at": "2099-01-01T10:00:00+00:00", "action": "x", "actor": None, "subject": None,
           "reason": None, "details": {"d": NESTED_DETAILS}}  # fmt: skip


@pytest.mark.parametrize(
    "route, answer, args, words",
    [
        ("/events", _json_answer(DEEP), ["event", "list"], "does not parse"),
        ("/events", _json_answer(b'{"items": [' + DEEP + b"]}"), ["event", "list"], "does not parse"),
        ("/events", _json_answer(DEEP, 404, "application/problem+json"), ["event", "list"], "malformed problem"),
        ("/events/talk/history", _json_answer(json.dumps({"items": [HISTORY], "next": None}).encode()),
         ["event", "history", "talk", "--json"], "does not understand"),
        ("/events", _json_answer('{"items": [], "next": null, "x": "café"}'.encode("utf-16")), ["event", "list"],
         "does not parse"),
    ],
    ids=["deep", "deep-in-a-page", "deep-problem", "deep-details", "utf-16"],
)  # fmt: skip
def test_json_too_deep_or_not_utf8_is_exit_5_without_a_traceback(
    route: str, answer: Handler, args: list[str], words: str, client_env: Path, cli: Cli, monkeypatch, odd
):
    server = odd({("GET", route): answer})
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    result = cli(*args)
    assert result.exit_code == 5, result.output
    assert server.origin in result.stderr and words in result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.output


def test_a_lone_surrogate_from_a_server_becomes_u_fffd(client_env: Path, cli: Cli, monkeypatch, odd):
    page = json.dumps({"items": [{**EVENT, "title": "Bad \ud800 and good \U0001f600"}], "next": None})
    assert "\\ud800" in page and "\\ud83d\\ude00" in page  # what json.dumps escapes: one lone, one pair
    problem = json.dumps({"type": "urn:eventreg:problem:not-found", "title": "x", "status": 404, "detail": "no \udfff"})
    server = odd({("GET", "/events"): _json_answer(page.encode()),
        ("GET", "/events/talk"): _json_answer(problem.encode(), 404, "application/problem+json")})  # fmt: skip
    monkeypatch.setenv("EVENTREG_SERVER", server.origin)
    for args in (["event", "list"], ["event", "list", "--json"], ["event", "list", "--csv"]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "Bad \ufffd and good \U0001f600" in result.stdout.replace("\\ufffd", "\ufffd")
    missing = cli("event", "show", "talk")
    assert missing.exit_code == 4 and "no \ufffd" in missing.stderr, missing.output
