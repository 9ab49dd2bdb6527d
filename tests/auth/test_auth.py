import os
import stat
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from eventreg.auth import service, token_store
from eventreg.errors import DomainError, InvalidInput, NotLoggedIn, PermissionDenied
from tests.conftest import PASSWORD, TEST_SECRET, Cli, make_user


def login_cli(cli: Cli, email: str, password: str = PASSWORD):
    return cli("auth", "login", "--email", email, "--password-stdin", input=password + "\n")


def test_sign_up_login_status_logout(cli: Cli, memory_keyring):
    result = cli(
        "auth",
        "register",
        "--email",
        "Ana@Uni.edu",
        "--name",
        "  Ana   Ruiz ",
        "--question",
        "First school?",
        "--question",
        "Best friend?",
        "--password-stdin",
        input=f"{PASSWORD}\nSt Mary's\n  Jo  \n",
    )
    assert result.exit_code == 0, result.output
    assert login_cli(cli, "ana@uni.edu").exit_code == 0
    assert len(memory_keyring.store) == 1
    status = cli("auth", "status", "--json")
    assert status.exit_code == 0
    import json

    info = json.loads(status.stdout)
    assert info["name"] == "Ana Ruiz" and info["role"] == "student"
    assert info["token_storage"].startswith("keyring")
    assert PASSWORD not in status.output
    assert cli("auth", "logout").exit_code == 0
    assert memory_keyring.store == {}
    after = cli("auth", "status")
    assert after.exit_code == 3 and "not logged in" in after.stderr


def test_duplicate_email_is_refused_whatever_the_case(conn, settings):
    make_user(conn, settings, "dup@example.edu")
    with pytest.raises(DomainError, match="already exists"):
        make_user(conn, settings, "DUP@example.edu")


@pytest.mark.parametrize("password", ["short", "x" * 73, "é" * 37])
def test_password_rules(conn, settings, password):
    with pytest.raises(InvalidInput):
        service.sign_up(conn, settings, "p@example.edu", "P", password, [("Q one?", "a"), ("Q two?", "b")])


def test_wrong_password_is_generic_and_unknown_email_too(conn, settings):
    make_user(conn, settings, "known@example.edu")
    with pytest.raises(NotLoggedIn, match="wrong email or password"):
        service.login(conn, settings, "known@example.edu", "not-the-password")
    with pytest.raises(NotLoggedIn, match="wrong email or password"):
        service.login(conn, settings, "unknown@example.edu", "not-the-password")


def test_five_failures_lock_the_account_until_it_expires(conn, settings):
    user = make_user(conn, settings, "lock@example.edu")
    for _ in range(5):
        with pytest.raises(NotLoggedIn):
            service.login(conn, settings, "lock@example.edu", "wrong-password")
    with pytest.raises(NotLoggedIn, match="locked until"):
        service.login(conn, settings, "lock@example.edu", PASSWORD)
    assert (
        conn.execute("SELECT count(*) AS n FROM auth_failures WHERE user_id = %s", (user["id"],)).fetchone()["n"] == 5
    )
    # Let the lock run out: move it (and the failures) into the past.
    conn.execute("UPDATE users SET locked_until = now() - interval '1 second' WHERE id = %s", (user["id"],))
    conn.execute("UPDATE auth_failures SET at = at - interval '16 minutes' WHERE user_id = %s", (user["id"],))
    token, _ = service.login(conn, settings, "lock@example.edu", PASSWORD)
    assert token


def test_password_change_revokes_other_sessions(conn, settings):
    make_user(conn, settings, "change@example.edu")
    first, _ = service.login(conn, settings, "change@example.edu", PASSWORD)
    second, _ = service.login(conn, settings, "change@example.edu", PASSWORD)
    actor = service.authenticate(conn, settings, second, "student")
    assert service.change_password(conn, settings, actor, PASSWORD, "another-password-1") == 1
    with pytest.raises(NotLoggedIn, match="Session expired"):
        service.authenticate(conn, settings, first, "student")
    assert service.authenticate(conn, settings, second, "student").id == actor.id
    service.login(conn, settings, "change@example.edu", "another-password-1")


def test_reset_with_right_answers_sets_password_and_revokes_sessions(conn, settings):
    make_user(conn, settings, "reset@example.edu")
    token, _ = service.login(conn, settings, "reset@example.edu", PASSWORD)
    questions = service.reset_questions(conn, settings, "reset@example.edu")
    assert questions == ["What is your favourite colour?", "First pet?"]
    service.reset_password(conn, settings, "reset@example.edu", ["  BLUE ", "rex"], "brand-new-password")
    with pytest.raises(NotLoggedIn):
        service.authenticate(conn, settings, token, "student")
    service.login(conn, settings, "reset@example.edu", "brand-new-password")


def test_reset_errors_reveal_nothing(conn, settings):
    make_user(conn, settings, "quiet@example.edu")
    errors = []
    for email, answers in [
        ("quiet@example.edu", ["blue", "wrong"]),
        ("quiet@example.edu", ["wrong", "rex"]),
        ("nobody@example.edu", ["blue", "rex"]),
    ]:
        with pytest.raises(NotLoggedIn) as caught:
            service.reset_password(conn, settings, email, answers, "brand-new-password")
        errors.append(str(caught.value))
    assert len(set(errors)) == 1
    decoys = service.reset_questions(conn, settings, "nobody@example.edu")  # decoys, not an error
    assert len(set(decoys)) == 2 and decoys == service.reset_questions(conn, settings, "NOBODY@example.edu")


def forge(claims: dict, key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_tampered_expired_revoked_and_foreign_tokens_are_refused(conn, settings):
    make_user(conn, settings, "tok@example.edu")
    token, _ = service.login(conn, settings, "tok@example.edu", PASSWORD)
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    now = datetime.now(UTC)
    bad = {
        "tampered": token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1],
        "other secret": forge(claims, key="another-secret-another-secret-another"),
        "hs512": forge(claims, algorithm="HS512"),
        "none": jwt.encode(claims, None, algorithm="none"),
        "expired": forge({**claims, "exp": now - timedelta(seconds=1)}),
        "unknown session": forge({**claims, "jti": "00000000-0000-0000-0000-000000000000"}),
        "other user": forge({**claims, "sub": "999999"}),
        "role raised": None,
    }
    bad.pop("role raised")
    for name, value in bad.items():
        with pytest.raises(NotLoggedIn):
            service.authenticate(conn, settings, value, "student")
            pytest.fail(f"{name} token was accepted")
    actor = service.authenticate(conn, settings, token, "student")
    service.logout(conn, actor)
    with pytest.raises(NotLoggedIn, match="Session expired"):
        service.authenticate(conn, settings, token, "student")


def test_role_comes_from_the_database_not_the_token(conn, settings):
    user = make_user(conn, settings, "role@example.edu")
    token, _ = service.login(conn, settings, "role@example.edu", PASSWORD)
    with pytest.raises(PermissionDenied):
        service.authenticate(conn, settings, token, "staff")
    conn.execute("UPDATE users SET role = 'staff' WHERE id = %s", (user["id"],))
    assert service.authenticate(conn, settings, token, "staff").role == "staff"
    conn.execute("UPDATE users SET is_active = false WHERE id = %s", (user["id"],))
    with pytest.raises(NotLoggedIn, match="deactivated"):
        service.authenticate(conn, settings, token, "student")


def test_expired_token_message_and_exit_code(cli: Cli, conn, settings, monkeypatch):
    monkeypatch.setenv("EVENTREG_TOKEN_HOURS", "0.0001")  # about a third of a second
    make_user(conn, settings, "short@example.edu")
    assert login_cli(cli, "short@example.edu").exit_code == 0
    time.sleep(1.1)
    result = cli("auth", "status")
    assert result.exit_code == 3
    assert result.stderr.strip() == "Error: Session expired, run eventreg auth login"


def test_environment_token_overrides_the_store(cli: Cli, conn, settings, monkeypatch):
    make_user(conn, settings, "env@example.edu")
    token, _ = service.login(conn, settings, "env@example.edu", PASSWORD)
    monkeypatch.setenv("EVENTREG_TOKEN", token)
    import json

    info = json.loads(cli("auth", "status", "--json").stdout)
    assert info["email"] == "env@example.edu"
    assert info["token_storage"].startswith("environment")


def test_file_fallback_is_0600_and_refused_when_wider(cli: Cli, conn, settings, env):
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    make_user(conn, settings, "file@example.edu")
    result = login_cli(cli, "file@example.edu")
    assert result.exit_code == 0
    assert "plain text" in result.stderr
    files = list((env / "tokens").iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert "file " in cli("auth", "status").stdout
    os.chmod(files[0], 0o644)
    refused = cli("auth", "status")
    assert refused.exit_code == 3 and "chmod 600" in refused.stderr


def test_one_token_entry_per_database():
    a = token_store.database_key("postgresql://u:one@/db_a?host=/tmp")
    b = token_store.database_key("postgresql://u:two@/db_b?host=/tmp")
    assert a != b
    assert a == token_store.database_key("postgresql://u:other-password@/db_a?host=/tmp")


def test_hanging_keyring_falls_back_to_file(cli: Cli, conn, settings, env, monkeypatch):
    from tests.conftest import MemoryKeyring

    class Hanging(MemoryKeyring):
        def set_password(self, service, username, password):
            time.sleep(3)

    import keyring

    keyring.set_keyring(Hanging())
    monkeypatch.setattr(token_store, "KEYRING_TIMEOUT", 0.2)
    make_user(conn, settings, "hang@example.edu")
    result = login_cli(cli, "hang@example.edu")
    assert result.exit_code == 0 and "plain text" in result.stderr


def test_bootstrap_admin_only_once(cli: Cli):
    first = cli(
        "admin", "bootstrap", "--email", "root@example.edu", "--name", "Root", "--password-stdin", input=PASSWORD + "\n"
    )
    assert first.exit_code == 0
    second = cli(
        "admin", "bootstrap", "--email", "two@example.edu", "--name", "Two", "--password-stdin", input=PASSWORD + "\n"
    )
    assert second.exit_code == 1 and "already exists" in second.stderr


def test_prod_refuses_a_short_secret(cli: Cli, monkeypatch, db):
    monkeypatch.setenv("DATABASE_URL_PROD", db)
    monkeypatch.setenv("JWT_SECRET", "short")
    monkeypatch.setenv("EVENTREG_TOKEN", "a.b.c")
    result = cli("--env", "prod", "auth", "status")
    assert result.exit_code == 2 and "at least 32 bytes" in result.stderr


def test_user_profile_commands(cli: Cli, login_as):
    login_as("student", "me@example.edu")
    assert cli("user", "update", "--name", "New  Name").exit_code == 0
    import json

    shown = json.loads(cli("user", "show", "--json").stdout)
    assert shown["name"] == "New Name" and len(shown["security_questions"]) == 2
    result = cli(
        "user",
        "security-questions",
        "--question",
        "Q one?",
        "--question",
        "Q two?",
        "--question",
        "Q three?",
        "--answers-stdin",
        input="a\nb\nc\n",
    )
    assert result.exit_code == 0
    assert len(json.loads(cli("user", "show", "--json").stdout)["security_questions"]) == 3


def test_token_of_a_deleted_user_is_refused(conn, settings):
    user = make_user(conn, settings, "gone@example.edu")
    token, _ = service.login(conn, settings, "gone@example.edu", PASSWORD)
    conn.execute("DELETE FROM users WHERE id = %s", (user["id"],))
    with pytest.raises(NotLoggedIn):
        service.authenticate(conn, settings, token, "student")


def test_token_from_another_database_is_refused(conn, settings, admin_url, template_db):
    """Same secret, same user id, but the session row lives in the other database."""
    import uuid

    from eventreg.db.connection import connect
    from tests.conftest import create_database, drop_database

    other_name = f"eventreg_other_{uuid.uuid4().hex[:6]}"
    other_url = create_database(admin_url, other_name, template=template_db)
    try:
        with connect(other_url) as other:
            make_user(other, settings, "twin@example.edu")
            token, _ = service.login(other, settings, "twin@example.edu", PASSWORD)
        make_user(conn, settings, "twin@example.edu")  # same id in this database
        with pytest.raises(NotLoggedIn, match="not known to this database"):
            service.authenticate(conn, settings, token, "student")
    finally:
        drop_database(admin_url, other_name)
