"""Admins: people, roles, access, every registration, imports."""

from __future__ import annotations

import csv
import io
import json
import threading

from eventreg.registration import service as registration
from tests.conftest import PASSWORD, Cli
from tests.support import insert_users, published_event, work

USER_KEYS = {"id", "email", "name", "role", "is_active", "created_at", "updated_at"}


def test_users_list_show_role_and_json_shape(cli: Cli, conn):
    admin = cli.as_role("admin")
    listed = json.loads(admin("admin", "users", "list", "--search", "staff", "--json").stdout)
    assert [u["email"] for u in listed] == ["staff@example.edu"] and set(listed[0]) == USER_KEYS
    assert admin("admin", "users", "role", "student@example.edu", "staff", "--reason", "new hire").exit_code == 0
    shown = json.loads(admin("admin", "users", "show", "student@example.edu", "--json").stdout)
    assert shown["role"] == "staff" and set(shown) == USER_KEYS | {"locked_until"}
    staff_only = json.loads(admin("admin", "users", "list", "--role", "staff", "--json").stdout)
    assert {u["email"] for u in staff_only} == {"student@example.edu", "staff@example.edu"}
    assert admin("admin", "users", "role", "student@example.edu", "wizard").exit_code == 2
    assert admin("admin", "users", "show", "nobody@example.edu").exit_code == 4
    audit = conn.execute("SELECT reason FROM audit_log WHERE action = 'user.role_changed'").fetchone()
    assert audit["reason"] == "new hire"


def test_the_last_admin_can_neither_be_demoted_nor_deactivated(cli: Cli):
    admin = cli.as_role("admin")
    demoted = admin("admin", "users", "role", "admin@example.edu", "student")
    assert demoted.exit_code == 1 and "last active admin" in demoted.stderr
    assert admin("admin", "users", "deactivate", "admin@example.edu", "--yes").exit_code == 1


def test_deactivation_says_what_it_ends_asks_and_ends_every_session(cli: Cli):
    assert (
        cli("auth", "login", "--email", "student@example.edu", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    )
    admin = cli.as_role("admin")
    unasked = admin("admin", "users", "deactivate", "student@example.edu")
    assert unasked.exit_code == 2 and "2 live session(s)" in unasked.stderr and "--yes" in unasked.stderr
    dry = admin("admin", "users", "deactivate", "student@example.edu", "--dry-run")
    assert dry.exit_code == 0 and "nothing was changed" in dry.stderr
    assert cli.as_role("student")("auth", "status").exit_code == 0
    done = cli.as_role("admin")("admin", "users", "deactivate", "student@example.edu", "--reason", "left", "--yes")
    assert done.exit_code == 0 and "2 session(s) ended" in done.stderr
    assert cli.as_role("student")("auth", "status").exit_code == 3
    assert cli.as_role("admin")("admin", "users", "reactivate", "student@example.edu").exit_code == 0
    cli.as_role(None)
    assert (
        cli("auth", "login", "--email", "student@example.edu", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    )


def test_admin_create_with_a_password(cli: Cli):
    made = cli.as_role("admin")("admin", "create", "--email", "two@example.edu", "--name", "Two", "--password-stdin",
                                 input=f"{PASSWORD}\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    cli.as_role(None)
    assert cli("auth", "login", "--email", "two@example.edu", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0


def test_registrations_json_csv_and_filters(db, cli: Cli, conn, tmp_path):
    event = published_event(db, capacity=1, title="Admin View")
    a, b = insert_users(conn, 2)
    for person in (a, b):
        with work(db) as uow:
            registration.register(uow, person, event.slug)
    admin = cli.as_role("admin")
    rows = json.loads(admin("admin", "registrations", "--json").stdout)
    assert [r["status"] for r in rows] == ["registered", "waitlisted"]
    assert set(rows[0]) == {"id", "event", "title", "email", "name", "status", "created_at", "registered_at",
                            "cancelled_at", "checked_in_at"}  # fmt: skip
    waiting = json.loads(admin("admin", "registrations", "--status", "waitlisted", "--json").stdout)
    assert [r["email"] for r in waiting] == [b.email]
    exported = list(csv.DictReader(io.StringIO(admin("admin", "registrations", "--csv", "--all").stdout)))
    assert [r["email"] for r in exported] == [a.email, b.email]
    out = tmp_path / "all.csv"
    assert admin("admin", "registrations", "--event", event.slug, "--csv", "--all", "-o", str(out)).exit_code == 0
    assert len(list(csv.DictReader(out.open()))) == 2
    assert admin("admin", "registrations", "--status", "lost").exit_code == 2


def test_pages_neither_skip_nor_repeat_while_registrations_arrive(db, cli: Cli, conn):
    event = published_event(db, capacity=500, title="Busy")
    early = insert_users(conn, 60, prefix="early")
    for person in early:
        with work(db) as uow:
            registration.register(uow, person, event.slug)
    late = insert_users(conn, 40, prefix="late")
    stop = threading.Event()

    def keep_registering() -> None:
        for person in late:
            if stop.is_set():
                return
            with work(db) as uow:
                registration.register(uow, person, event.slug)

    writer = threading.Thread(target=keep_registering)
    writer.start()
    admin, seen, after = cli.as_role("admin"), [], None
    try:
        while True:
            args = ["admin", "registrations", "--limit", "7", "--json"] + (["--after", after] if after else [])
            result = admin(*args)
            seen += [r["id"] for r in json.loads(result.stdout)]
            hint = [line for line in result.stderr.splitlines() if line.startswith("More: --after ")]
            if not hint:
                break
            after = hint[0].split()[2]
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)) and seen == sorted(seen)  # no repeats, in key order
    early_ids = {r["id"] for r in conn.execute(
        "SELECT id FROM registrations WHERE user_id = ANY(%s)", ([p.id for p in early],))}  # fmt: skip
    assert early_ids <= set(seen)  # nothing that was there from the start was skipped


def test_import_is_every_row_or_none_and_names_the_bad_ones(cli: Cli, conn, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,name,role\nok@example.edu,OK,\nnot-an-email,X,\nz@example.edu,Z,wizard\nok@example.edu,Twice,\n"
    )
    admin = cli.as_role("admin")
    result = admin("user", "import", str(bad))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    for expected in ("line 3:", "line 4:", "line 5: ok@example.edu is also on line 2", "nothing was imported"):
        assert expected in result.stderr
    assert conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 3
    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeffEmail,Name\nnew1@example.edu,New One\nstudent@example.edu,Already Here\nnew2@example.edu,  New  Two \n"
    )
    imported = admin("user", "import", str(good))
    assert imported.exit_code == 0, imported.output
    assert (
        "Imported 2 user(s); skipped 1." in imported.stderr and "line 3: skipped student@example.edu" in imported.stderr
    )
    names = {r["name"] for r in conn.execute("SELECT name FROM users WHERE email LIKE 'new%'")}
    assert names == {"New One", "New Two"}
    (tmp_path / "latin1.csv").write_bytes("email,name\nx@example.edu,Jos\xe9\n".encode("latin-1"))
    wrong = admin("user", "import", str(tmp_path / "latin1.csv"))
    assert wrong.exit_code == 2 and "not UTF-8" in wrong.stderr
    assert admin("user", "import", str(tmp_path / "missing.csv")).exit_code == 2


def test_event_stats(db, cli: Cli, conn, people):
    event = published_event(db, capacity=2, title="Stats", organiser=people["staff"])
    attendees = insert_users(conn, 3)
    for person in attendees:
        with work(db) as uow:
            registration.register(uow, person, event.slug)
    staff = cli.as_role("staff")
    staff("event", "checkin", event.slug, attendees[0].email)
    report = json.loads(staff("event", "stats", event.slug, "--json").stdout)
    assert (report["registered"], report["waitlist"], report["present"], report["attendance_rate"]) == (2, 1, 1, 0.5)
    assert "Sign-ups per day" in staff("event", "stats", event.slug).stdout


def test_organisers_are_added_and_removed_by_organisers_and_admins(db, cli: Cli, conn, people):
    event = published_event(db, capacity=2, title="Shared", organiser=people["staff"])
    conn.execute("INSERT INTO users (email, name, role) VALUES ('helper@example.edu', 'Helper', 'staff')")
    staff = cli.as_role("staff")
    refused = staff("event", "organisers", "add", event.slug, "student@example.edu")
    assert refused.exit_code == 1 and "not active staff" in refused.stderr
    assert staff("event", "organisers", "add", event.slug, "helper@example.edu").exit_code == 0
    listed = json.loads(staff("event", "organisers", "list", event.slug, "--json").stdout)
    assert [o["email"] for o in listed] == ["staff@example.edu", "helper@example.edu"]
    assert staff("event", "organisers", "remove", event.slug, "staff@example.edu").exit_code == 0
    assert staff("event", "update", event.slug, "--location", "Hall").exit_code == 3  # no longer organises it
    last = cli.as_role("admin")("event", "organisers", "remove", event.slug, "helper@example.edu")
    assert last.exit_code == 0  # an admin may leave an event without organisers; admins still manage it
    actions = [r["action"] for r in conn.execute("SELECT action FROM audit_log WHERE action LIKE 'event.organiser%'")]
    assert actions == ["event.organiser_added", "event.organiser_removed", "event.organiser_removed"]
