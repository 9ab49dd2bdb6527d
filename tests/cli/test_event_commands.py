import csv
import io
import json

from tests.conftest import Cli

EVENT_KEYS = {
    "id",
    "slug",
    "title",
    "description",
    "location",
    "status",
    "capacity",
    "registered",
    "available",
    "waitlist",
    "starts_at",
    "ends_at",
    "registration_opens_at",
    "registration_closes_at",
}


def create(cli: Cli, *extra: str) -> dict:
    result = cli(
        "event",
        "create",
        "--title",
        "Python Workshop",
        "--capacity",
        "1",
        "--starts-at",
        "2099-03-01T14:00",
        "--publish",
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_staff_day_create_list_show_update(cli: Cli, login_as):
    login_as("staff")
    event = create(cli, "--location", "Lab 2")
    assert set(event) == EVENT_KEYS and event["slug"] == "python-workshop"
    listed = json.loads(cli("event", "list", "--json").stdout)
    assert [e["slug"] for e in listed] == ["python-workshop"]
    shown = json.loads(cli("event", "show", str(event["id"]), "--json").stdout)
    assert shown["location"] == "Lab 2" and shown["available"] == 1
    updated = cli("event", "update", "python-workshop", "--capacity", "3", "--json")
    assert json.loads(updated.stdout)["capacity"] == 3
    assert cli("event", "update", "python-workshop").exit_code == 2  # nothing to change


def test_student_day_register_waitlist_cancel(cli: Cli, login_as):
    login_as("staff")
    create(cli)
    login_as("student", "first@example.edu")
    first = cli("register", "python-workshop")
    assert first.exit_code == 0 and first.stderr.strip() == "Registered for Python Workshop"
    again = cli("register", "python-workshop")
    assert again.exit_code == 1 and "already registered" in again.stderr
    login_as("student", "second@example.edu")
    second = cli("register", "python-workshop")
    assert second.stderr.strip() == "Event is full: you are number 1 on the waitlist"
    mine = json.loads(cli("register", "list", "--json").stdout)
    assert [(r["slug"], r["status"], r["position"]) for r in mine] == [("python-workshop", "waitlisted", 1)]
    login_as("student", "first@example.edu")
    assert cli("register", "cancel", "python-workshop").exit_code == 0
    login_as("student", "second@example.edu")
    mine = json.loads(cli("register", "list", "--json").stdout)
    assert mine[0]["status"] == "registered"


def test_attendance_csv_and_history(cli: Cli, login_as):
    login_as("student", "att@example.edu")
    login_as("staff")
    create(cli)
    login_as("student", "att2@example.edu")
    cli("register", "python-workshop")
    login_as("staff", "boss@example.edu")
    assert cli("event", "checkin", "python-workshop", "att2@example.edu").exit_code == 0
    rows = list(csv.DictReader(io.StringIO(cli("event", "attendance", "python-workshop", "--csv").stdout)))
    assert [(r["email"], r["present"]) for r in rows] == [("att2@example.edu", "True")]
    history = json.loads(cli("event", "history", "python-workshop", "--json").stdout)
    assert [h["action"] for h in history] == ["event.created", "registered", "checked_in"]


def test_waitlist_commands(cli: Cli, login_as):
    login_as("staff")
    create(cli)
    for name in ("w1", "w2", "w3"):
        login_as("student", f"{name}@example.edu")
        cli("register", "python-workshop")
    login_as("staff", "boss@example.edu")
    assert cli("waitlist", "move", "python-workshop", "w3@example.edu", "--to", "1").exit_code == 0
    waiting = json.loads(cli("waitlist", "list", "python-workshop", "--json").stdout)
    assert [(w["position"], w["email"]) for w in waiting] == [(1, "w3@example.edu"), (2, "w2@example.edu")]
    full = cli("waitlist", "promote", "python-workshop", "w2@example.edu")
    assert full.exit_code == 1 and "--over-capacity" in full.stderr
    assert cli("waitlist", "remove", "python-workshop", "w2@example.edu").exit_code == 0
    missing = cli("waitlist", "remove", "python-workshop", "w2@example.edu")
    assert missing.exit_code == 4


def test_cancel_needs_yes_without_a_terminal(cli: Cli, login_as):
    login_as("staff")
    create(cli)
    refused = cli("event", "cancel", "python-workshop")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert cli("event", "cancel", "python-workshop", "--yes").exit_code == 0
    assert json.loads(cli("event", "show", "python-workshop", "--json").stdout)["status"] == "cancelled"


def test_bad_input_is_one_line_without_traceback(cli: Cli, login_as):
    login_as("staff")
    for args in (
        ["--capacity", "0"],
        ["--capacity", "-5"],
        ["--starts-at", "tomorrow"],
        ["--slug", "Bad Slug!"],
        ["--title", "x" * 300],
    ):
        base = {"--title": "T", "--capacity": "5", "--starts-at": "2099-01-01T10:00"}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        result = cli("event", "create", *[x for pair in base.items() for x in pair])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert cli("event", "show", "no-such-event").exit_code == 4


def test_db_doctor_reports_violations_and_exits_1(cli: Cli, login_as, conn):
    login_as("staff")
    create(cli)
    assert cli("db", "doctor").exit_code == 0
    conn.execute("ALTER TABLE events DROP CONSTRAINT events_seats_within_capacity")
    conn.execute("UPDATE events SET registered_count = 7")
    result = cli("db", "doctor", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {c["check"] for c in report["checks"] if not c["ok"]}
    assert failed == {"seat_count_matches", "within_capacity"}
