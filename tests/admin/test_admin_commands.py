import csv
import io
import json
import threading

from tests.conftest import PASSWORD, Cli, make_user
from tests.registration.helpers import insert_users, published_event

USER_KEYS = {"id", "email", "name", "role", "is_active", "created_at", "updated_at"}
REGISTRATION_KEYS = ["id", "event", "title", "email", "name", "status", "created_at", "registered_at",
                     "cancelled_at", "checked_in_at"]  # fmt: skip


def test_users_list_show_role_and_json_shape(cli: Cli, login_as, conn, settings):
    login_as("admin", "root@example.edu")
    make_user(conn, settings, "sam@example.edu")
    listed = json.loads(cli("admin", "users", "list", "--search", "sam", "--json").stdout)
    assert [u["email"] for u in listed] == ["sam@example.edu"] and set(listed[0]) == USER_KEYS
    assert cli("admin", "users", "role", "sam@example.edu", "staff", "--reason", "new hire").exit_code == 0
    shown = json.loads(cli("admin", "users", "show", "sam@example.edu", "--json").stdout)
    assert shown["role"] == "staff"
    staff_only = json.loads(cli("admin", "users", "list", "--role", "staff", "--json").stdout)
    assert [u["email"] for u in staff_only] == ["sam@example.edu"]
    assert cli("admin", "users", "role", "sam@example.edu", "wizard").exit_code == 2
    audit = conn.execute("SELECT action, reason FROM audit_log WHERE action = 'user.role_changed'").fetchall()
    assert audit == [{"action": "user.role_changed", "reason": "new hire"}]


def test_last_admin_cannot_demote_or_deactivate_themselves(cli: Cli, login_as):
    login_as("admin", "only@example.edu")
    result = cli("admin", "users", "role", "only@example.edu", "student")
    assert result.exit_code == 1 and "last active admin" in result.stderr
    assert cli("admin", "users", "deactivate", "only@example.edu").exit_code == 1


def test_deactivation_revokes_sessions_and_reactivation_allows_login(cli: Cli, login_as, conn, settings):
    from eventreg.auth import service

    make_user(conn, settings, "leaver@example.edu")
    token, _ = service.login(conn, settings, "leaver@example.edu", PASSWORD)
    login_as("admin", "root@example.edu")
    assert cli("admin", "users", "deactivate", "leaver@example.edu", "--reason", "left").exit_code == 0
    revoked = conn.execute(
        "SELECT count(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.email = 'leaver@example.edu' AND s.revoked_at IS NULL"
    ).fetchone()
    assert revoked["n"] == 0
    import pytest

    from eventreg.errors import NotLoggedIn

    with pytest.raises(NotLoggedIn):
        service.authenticate(conn, settings, token, "student")
    assert cli("admin", "users", "reactivate", "leaver@example.edu").exit_code == 0
    service.login(conn, settings, "leaver@example.edu", PASSWORD)


def test_unlock_lifts_a_lockout(cli: Cli, login_as, conn, settings):
    import pytest

    from eventreg.auth import service
    from eventreg.errors import NotLoggedIn

    make_user(conn, settings, "locked@example.edu")
    for _ in range(5):
        with pytest.raises(NotLoggedIn):
            service.login(conn, settings, "locked@example.edu", "bad-password")
    login_as("admin", "root@example.edu")
    assert cli("admin", "users", "unlock", "locked@example.edu").exit_code == 0
    service.login(conn, settings, "locked@example.edu", PASSWORD)


def test_admin_create_with_a_reset_code_that_works_once(cli: Cli, login_as, monkeypatch):
    login_as("admin", "root@example.edu")
    created = cli("admin", "create", "--email", "dean@example.edu", "--name", "Dean", "--reset-code")
    assert created.exit_code == 0
    code = created.stdout.strip()
    monkeypatch.delenv("EVENTREG_TOKEN", raising=False)
    reset = cli(
        "auth",
        "reset-password",
        "--email",
        "dean@example.edu",
        "--code",
        "--password-stdin",
        input=f"{code}\nthe-deans-password\n",
    )
    assert reset.exit_code == 0, reset.output
    again = cli(
        "auth",
        "reset-password",
        "--email",
        "dean@example.edu",
        "--code",
        "--password-stdin",
        input=f"{code}\nanother-password\n",
    )
    assert again.exit_code == 3
    login = cli("auth", "login", "--email", "dean@example.edu", "--password-stdin", input="the-deans-password\n")
    assert login.exit_code == 0 and "(admin)" in login.stderr


def test_admin_create_with_a_password(cli: Cli, login_as):
    login_as("admin", "root@example.edu")
    result = cli(
        "admin", "create", "--email", "two@example.edu", "--name", "Two", "--password-stdin", input=PASSWORD + "\n"
    )
    assert result.exit_code == 0
    assert cli("auth", "login", "--email", "two@example.edu", "--password-stdin", input=PASSWORD + "\n").exit_code == 0


def test_registrations_json_csv_and_filters(cli: Cli, login_as, conn, tmp_path):
    event = published_event(conn, capacity=2)
    people = insert_users(conn, 3)
    from eventreg.registration import service as registration

    for person in people:
        registration.register(conn, person, event["slug"])
    login_as("admin", "root@example.edu")
    rows = json.loads(cli("admin", "registrations", "--json").stdout)
    assert [r["status"] for r in rows] == ["registered", "registered", "waitlisted"]
    assert list(rows[0]) == REGISTRATION_KEYS
    waiting = json.loads(cli("admin", "registrations", "--status", "waitlisted", "--json").stdout)
    assert [r["email"] for r in waiting] == [people[2].email]
    text = cli("admin", "registrations", "--csv").stdout
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["email"] for r in parsed] == [p.email for p in people] and list(parsed[0]) == REGISTRATION_KEYS
    out = tmp_path / "export.csv"
    assert cli("admin", "registrations", "--event", event["slug"], "--output", str(out)).exit_code == 0
    assert len(list(csv.DictReader(out.open()))) == 3
    assert cli("admin", "registrations", "--status", "lost").exit_code == 2


def test_pagination_neither_skips_nor_repeats_while_registrations_arrive(cli: Cli, login_as, conn, db):
    event = published_event(conn, capacity=500)
    early = insert_users(conn, 60)
    late = insert_users(conn, 60)
    from eventreg.db.connection import connect
    from eventreg.registration import service as registration

    for person in early:
        registration.register(conn, person, event["slug"])
    login_as("admin", "root@example.edu")
    seen: list[int] = []
    after = 0
    writer_done = threading.Event()

    def keep_registering() -> None:
        with connect(db) as other:
            for person in late:
                registration.register(other, person, event["slug"])
        writer_done.set()

    writer = threading.Thread(target=keep_registering)
    writer.start()
    while True:
        page = json.loads(cli("admin", "registrations", "--limit", "7", "--after", str(after), "--json").stdout)
        if not page:
            if writer_done.is_set():
                break
            continue
        seen.extend(r["id"] for r in page)
        after = page[-1]["id"]
    writer.join()
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen)


def test_capacity_raises_promote_and_lowering_is_refused(cli: Cli, login_as, conn):
    event = published_event(conn, capacity=1)
    from eventreg.registration import service as registration

    for person in insert_users(conn, 3):
        registration.register(conn, person, event["slug"])
    login_as("admin", "root@example.edu")
    raised = cli("admin", "capacity", event["slug"], "3", "--reason", "bigger room")
    assert raised.exit_code == 0 and "2 promoted" in raised.stderr
    lowered = cli("admin", "capacity", event["slug"], "2")
    assert lowered.exit_code == 1 and "has 3 registered" in lowered.stderr


def test_import_creates_all_or_nothing_and_reports_every_bad_row(cli: Cli, login_as, conn, tmp_path):
    login_as("admin", "root@example.edu")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,name,role\nok@example.edu,Ok,student\nnot-an-email,X,student\n"
        "dup@example.edu,Dup,student\ndup@example.edu,Dup Again,student\nfine@example.edu,,staff\n"
        "wiz@example.edu,Wiz,wizard\n"
    )
    result = cli("user", "import", str(bad))
    assert result.exit_code == 2
    for line in ("line 3", "line 5", "line 6", "line 7"):
        assert line in result.stderr
    assert (
        conn.execute(
            "SELECT count(*) AS n FROM users WHERE email LIKE '%%@example.edu' AND email <> 'root@example.edu'"
        ).fetchone()["n"]
        == 0
    )
    good = tmp_path / "good.csv"
    good.write_text(
        "email,name,role\nnew1@example.edu,New One,student\nroot@example.edu,Root,admin\n"
        "new2@example.edu,New Two,staff\n"
    )
    imported = cli("user", "import", str(good))
    assert imported.exit_code == 0
    assert "Imported 2 user(s); skipped 1." in imported.stderr and "line 3: skipped root@example.edu" in imported.stderr
    roles = conn.execute("SELECT email, role, password_hash FROM users WHERE email LIKE 'new%%' ORDER BY email")
    assert [(r["email"], r["role"], r["password_hash"]) for r in roles] == [
        ("new1@example.edu", "student", None),
        ("new2@example.edu", "staff", None),
    ]


def test_event_stats(cli: Cli, login_as, conn):
    event = published_event(conn, capacity=2)
    from eventreg.registration import service as registration

    people = insert_users(conn, 3)
    for person in people:
        registration.register(conn, person, event["slug"])
    login_as("staff", "boss@example.edu")
    cli("event", "checkin", event["slug"], people[0].email)
    report = json.loads(cli("event", "stats", event["slug"], "--json").stdout)
    assert (report["registered"], report["waitlist"], report["present"], report["attendance_rate"]) == (2, 1, 1, 0.5)
    assert sum(d["signups"] for d in report["signups_per_day"]) == 3
    assert "Sign-ups per day" in cli("event", "stats", event["slug"]).stdout
