"""Sign-up, sign-in, sessions, and the holes an attacker would try: guessing, enumeration, takeover."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from eventreg.auth import service as auth
from eventreg.errors import DomainError, InvalidInput, NotLoggedIn, TooManyAttempts
from tests.conftest import ANSWERS, PASSWORD, TEST_SECRET, Cli
from tests.support import work

STUDENT = "student@example.edu"


def login(cli: Cli, email: str = STUDENT, password: str = PASSWORD):
    return cli("auth", "login", "--email", email, "--password-stdin", input=password + "\n")


def sign_up(cli: Cli, email: str, name: str = "Ana Ruiz", password: str = PASSWORD):
    return cli(
        "auth", "register", "--email", email, "--name", name, "--question", "1", "--question", "4",
        "--password-stdin", input=f"{password}\nBlue\n St Mary's \n",
    )  # fmt: skip


def test_sign_up_login_status_logout(cli: Cli, memory_keyring):
    created = sign_up(cli, "Ana@Uni.edu", "  Ana   Ruiz ")
    assert created.exit_code == 0, created.output
    assert login(cli, "ana@uni.edu").exit_code == 0
    assert len(memory_keyring.store) == 1
    status = cli("auth", "status", "--json")
    info = json.loads(status.stdout)
    assert (info["name"], info["role"]) == ("Ana Ruiz", "student")
    assert info["token_storage"].startswith("keyring")
    assert set(info) == {"id", "email", "name", "role", "expires_at", "token_storage", "server"}
    assert cli("auth", "logout").exit_code == 0
    assert memory_keyring.store == {}
    after = cli("auth", "status")
    assert after.exit_code == 3 and "not logged in" in after.stderr


def test_the_catalogue_is_public_and_sign_up_takes_two_of_its_questions(cli: Cli):
    listed = cli("auth", "questions", "--json")
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 10
    free_text = cli(
        "auth", "register", "--email", "x@example.edu", "--name", "X", "--question", "First school?",
        "--question", "2", "--password-stdin", input=f"{PASSWORD}\na\nb\n",
    )  # fmt: skip
    assert free_text.exit_code == 2
    one = cli("auth", "register", "--email", "x@example.edu", "--name", "X", "--question", "1",
              "--password-stdin", input=f"{PASSWORD}\na\n")  # fmt: skip
    assert one.exit_code == 2 and "exactly 2" in one.stderr
    unknown = cli("auth", "register", "--email", "x@example.edu", "--name", "X", "--question", "1",
                  "--question", "99", "--password-stdin", input=f"{PASSWORD}\na\nb\n")  # fmt: skip
    assert unknown.exit_code == 2 and "no security question 99" in unknown.stderr


def test_duplicate_email_is_refused_whatever_the_case(cli: Cli):
    assert sign_up(cli, "dup@example.edu").exit_code == 0
    again = sign_up(cli, "DUP@example.edu")
    assert again.exit_code == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("password", ["short", "x" * 73, "é" * 37])
def test_password_rules_at_sign_up(cli: Cli, password):
    assert sign_up(cli, "p@example.edu", password=password).exit_code == 2


def test_a_password_over_72_bytes_is_refused_at_login_too(cli: Cli):
    # bcrypt ignores what comes after 72 bytes: PASSWORD plus anything must not sign in
    result = login(cli, STUDENT, PASSWORD + "x" * 60)
    assert result.exit_code == 2 and "72 bytes" in result.stderr


def test_wrong_password_and_unknown_email_look_the_same(cli: Cli):
    known = login(cli, STUDENT, "not-the-password")
    unknown = login(cli, "nobody@example.edu", "not-the-password")
    assert known.exit_code == unknown.exit_code == 3
    assert known.stderr == unknown.stderr == "Error: wrong email or password\n"


def _attempts(db: str, path: str, subject: str) -> int:
    from eventreg.db.connection import connect

    with connect(db, autocommit=True) as c:
        row = c.execute(
            "SELECT attempts FROM auth_throttle WHERE path = %s AND subject = %s", (path, subject)
        ).fetchone()
    return row["attempts"] if row else 0


def test_parallel_guesses_never_exceed_the_limit(db, settings):
    """24 wrong passwords at once, then the right one: only 5 are ever checked, and the right
    one, arriving while the window is full, is refused. The count is one atomic statement on
    the (path, subject) row of auth_throttle (INSERT ... ON CONFLICT DO UPDATE), committed
    before bcrypt runs."""
    barrier = threading.Barrier(24)
    checked = []

    def guess(n: int) -> str:
        barrier.wait()
        try:
            auth.login(lambda: work(db), settings, STUDENT, f"wrong-{n}-password")
        except TooManyAttempts:
            return "refused"
        except NotLoggedIn:
            checked.append(n)
            return "checked"
        return "signed in"

    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(guess, range(24)))
    assert outcomes.count("checked") == 5 and outcomes.count("refused") == 19
    with pytest.raises(TooManyAttempts):
        auth.login(lambda: work(db), settings, STUDENT, PASSWORD)


def test_after_the_limit_a_real_and_an_unknown_address_answer_alike(cli: Cli):
    for email in (STUDENT, "nobody@example.edu"):
        for _ in range(5):
            assert login(cli, email, "wrong-password").stderr == "Error: wrong email or password\n"
    real, unknown = login(cli, STUDENT, "wrong-password"), login(cli, "nobody@example.edu", "wrong-password")
    assert real.exit_code == unknown.exit_code == 3
    assert (
        real.stderr.split(" after ")[0] == unknown.stderr.split(" after ")[0] == "Error: too many attempts: try again"
    )


def test_the_limit_ends_with_its_window_and_an_admin_can_lift_it(cli: Cli, conn):
    for _ in range(6):
        login(cli, STUDENT, "wrong-password")
    assert login(cli).exit_code == 3
    conn.execute("UPDATE auth_throttle SET window_started_at = window_started_at - interval '16 minutes'")
    assert login(cli).exit_code == 0
    for _ in range(6):
        login(cli, STUDENT, "wrong-password")
    shown = cli.as_role("admin")("admin", "users", "show", STUDENT, "--json")
    assert json.loads(shown.stdout)["locked_until"] is not None
    assert cli.as_role("admin")("admin", "users", "unlock", STUDENT).exit_code == 0
    assert cli.as_role(None) and login(cli).exit_code == 0


def test_reset_code_guesses_never_block_password_sign_in(cli: Cli, db):
    """The paths are counted apart: anyone may guess codes for the only admin, who still signs in."""
    for _ in range(8):
        tried = cli("auth", "reset-password", "--email", "admin@example.edu", "--code", "--password-stdin",
                    input="000-000-000\nnew-password-1\n")  # fmt: skip
        assert tried.exit_code == 3
    assert _attempts(db, "code", "admin@example.edu") == 8
    assert login(cli, "admin@example.edu").exit_code == 0


def test_reset_questions_look_the_same_for_real_and_unknown_addresses(cli: Cli, conn):
    catalogue = {q["text"] for q in json.loads(cli("auth", "questions", "--json").stdout)}

    def asked(email: str) -> list[str]:
        result = cli("auth", "reset-password", "--email", email, "--password-stdin", input="a\nb\nnew-password-1\n")
        assert result.exit_code == 3 and "do not match our records" in result.stderr
        return [line.split(": ", 1)[1] for line in result.stderr.splitlines() if line.startswith("Question")]

    real, unknown = asked(STUDENT), asked("nobody@example.edu")
    assert len(real) == len(unknown) == 2 and set(real + unknown) <= catalogue
    assert asked("nobody@example.edu") == unknown  # stable per address, as a real account's are
    conn.execute("DELETE FROM security_questions WHERE user_id = (SELECT id FROM users WHERE email = %s)", (STUDENT,))
    assert len(asked(STUDENT)) == 2  # an account without questions gets decoys too


def test_reset_with_the_right_answers_sets_the_password_and_ends_every_session(cli: Cli):
    assert login(cli).exit_code == 0
    before = cli("auth", "status")
    assert before.exit_code == 0
    reset = cli("auth", "reset-password", "--email", STUDENT, "--password-stdin",
                input=f"{ANSWERS[0].upper()}\n  rex \nbrand-new-password\n")  # fmt: skip
    assert reset.exit_code == 0, reset.output
    assert cli("auth", "status").exit_code == 3  # the stored session was ended
    assert login(cli, STUDENT, "brand-new-password").exit_code == 0


def test_changing_what_recovers_an_account_needs_the_password_and_ends_other_sessions(cli: Cli, conn):
    assert login(cli).exit_code == 0
    other = cli.template.tokens["student"]  # another live session of the same person
    wrong = cli("user", "security-questions", "--question", "3", "--question", "5", "--password-stdin",
                input="not-my-password\nParis\nAnn\n")  # fmt: skip
    assert wrong.exit_code == 3
    done = cli("user", "security-questions", "--question", "3", "--question", "5", "--password-stdin",
               input=f"{PASSWORD}\nParis\nAnn\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert cli.as_token(other)("auth", "status").exit_code == 3
    cli.monkeypatch.delenv("EVENTREG_TOKEN")
    moved = cli("user", "update", "--email", "new.address@example.edu", "--password-stdin", input=f"{PASSWORD}\n")
    assert moved.exit_code == 0, moved.output
    actions = [r["action"] for r in conn.execute("SELECT action FROM audit_log WHERE subject_user_id IS NOT NULL")]
    assert "user.questions_changed" in actions and "user.email_changed" in actions


def test_logging_in_as_someone_else_ends_the_replaced_session(cli: Cli, conn):
    assert login(cli).exit_code == 0
    first = conn.execute(
        "SELECT jti FROM sessions WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    assert login(cli, "staff@example.edu").exit_code == 0
    revoked = conn.execute("SELECT revoked_at FROM sessions WHERE jti = %s", (first["jti"],)).fetchone()
    assert revoked["revoked_at"] is not None


def test_logout_all_ends_every_session(cli: Cli, conn):
    assert login(cli).exit_code == 0
    assert cli("auth", "logout", "--all").exit_code == 0
    live = conn.execute(
        "SELECT count(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.email = %s AND revoked_at IS NULL",
        (STUDENT,),
    ).fetchone()
    assert live["n"] == 0
    assert cli.as_role("student")("auth", "status").exit_code == 3  # the template's session too


def test_password_change_ends_other_sessions(cli: Cli):
    assert login(cli).exit_code == 0
    changed = cli("auth", "password", "--password-stdin", input=f"{PASSWORD}\nanother-password-1\n")
    assert changed.exit_code == 0 and "1 other session ended" in changed.stderr
    assert cli("auth", "status").exit_code == 0
    assert cli.as_role("student")("auth", "status").exit_code == 3


def _token(claims: dict, secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


# The HS512 forgery signs with our (HS256-sized) secret on purpose; PyJWT warns that it is short for HS512.
@pytest.mark.filterwarnings("ignore:The HMAC key is")
def test_forged_expired_revoked_and_foreign_tokens_are_refused(cli: Cli, template, conn):
    student = template.people["student"]
    good = jwt.decode(template.tokens["student"], TEST_SECRET, algorithms=["HS256"])
    now = datetime.now(UTC)
    forged = [
        template.tokens["student"][:-2] + "xx",  # tampered signature
        _token({**good, "exp": now - timedelta(seconds=1)}),  # expired
        _token(good, secret="another-secret-that-is-long-enough-000"),  # another secret
        _token(good, algorithm="HS512"),  # another algorithm
        jwt.encode({**good}, None, algorithm="none"),  # no signature at all
        _token({**good, "jti": str(uuid.uuid4())}),  # a session this database never made
        _token({**good, "sub": str(template.people["admin"].id)}),  # someone else's id on this session
        _token({k: v for k, v in good.items() if k != "jti"}),  # a claim missing
    ]
    for token in forged:
        result = cli.as_token(token)("auth", "status")
        assert result.exit_code == 3, token
        assert "Traceback" not in result.output
    conn.execute("UPDATE sessions SET revoked_at = now() WHERE jti = %s", (student.session,))
    assert cli.as_token(template.tokens["student"])("auth", "status").exit_code == 3


def test_the_role_comes_from_the_database_not_the_token(cli: Cli, template, conn):
    claims = jwt.decode(template.tokens["student"], TEST_SECRET, algorithms=["HS256"])
    as_admin = _token({**claims, "role": "admin"})
    assert cli.as_token(as_admin)("admin", "users", "list").exit_code == 3
    conn.execute("UPDATE users SET role = 'staff' WHERE id = %s", (template.people["student"].id,))
    assert json.loads(cli.as_token(as_admin)("auth", "status", "--json").stdout)["role"] == "staff"


def test_a_deactivated_or_deleted_user_is_signed_out(cli: Cli, template, conn):
    conn.execute("UPDATE users SET is_active = false WHERE id = %s", (template.people["student"].id,))
    result = cli.as_role("student")("register", "list")
    assert result.exit_code == 3 and "deactivated" in result.stderr
    conn.execute("DELETE FROM users WHERE id = %s", (template.people["staff"].id,))
    assert cli.as_role("staff")("auth", "status").exit_code == 3


def test_a_token_from_another_database_is_refused(cli: Cli, admin_url, template, monkeypatch):
    from tests import support

    other = support.create_database(admin_url, f"eventreg_other_{uuid.uuid4().hex[:6]}", template=template.name)
    with support.work(other) as uow:
        uow.conn.execute("DELETE FROM sessions")
    monkeypatch.setenv("DATABASE_URL_TEST", other)
    assert cli.as_role("student")("auth", "status").exit_code == 3


def test_the_first_admin_is_bootstrapped_once(cli: Cli, conn):
    conn.execute("DELETE FROM users WHERE role = 'admin'")
    first = cli("admin", "bootstrap", "--email", "it@uni.edu", "--name", "IT", "--password-stdin",
                input=f"{PASSWORD}\n")  # fmt: skip
    assert first.exit_code == 0, first.output
    again = cli("admin", "bootstrap", "--email", "it2@uni.edu", "--name", "IT", "--password-stdin",
                input=f"{PASSWORD}\n")  # fmt: skip
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_a_reset_code_works_once_and_only_for_its_account(cli: Cli):
    made = cli.as_role("admin")("admin", "create", "--email", "dean@uni.edu", "--name", "Dean", "--reset-code")
    assert made.exit_code == 0, made.output
    code = made.stdout.strip()
    cli.as_role(None)
    wrong_account = cli("auth", "reset-password", "--email", STUDENT, "--code", "--password-stdin",
                        input=f"{code}\nnew-password-1\n")  # fmt: skip
    assert wrong_account.exit_code == 3
    used = cli("auth", "reset-password", "--email", "dean@uni.edu", "--code", "--password-stdin",
               input=f"{code}\nnew-password-1\n")  # fmt: skip
    assert used.exit_code == 0, used.output
    again = cli("auth", "reset-password", "--email", "dean@uni.edu", "--code", "--password-stdin",
                input=f"{code}\nnew-password-2\n")  # fmt: skip
    assert again.exit_code == 3
    assert login(cli, "dean@uni.edu", "new-password-1").exit_code == 0


def test_sign_up_refuses_bad_values_before_anything_is_written(db, settings, conn):
    with pytest.raises(InvalidInput), work(db) as uow:
        auth.sign_up(uow, settings, "not-an-email", "X", PASSWORD, [(1, "a"), (2, "b")])
    with pytest.raises(DomainError), work(db) as uow:
        auth.sign_up(uow, settings, STUDENT.upper(), "X", PASSWORD, [(1, "a"), (2, "b")])
    assert conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 3
