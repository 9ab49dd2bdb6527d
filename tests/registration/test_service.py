from datetime import UTC, datetime, timedelta

import pytest

from eventreg.db.doctor import run_checks
from eventreg.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from eventreg.events import service as events
from eventreg.registration import service as registration
from eventreg.waitlist import service as waitlist
from tests.registration.helpers import event_state, insert_users, published_event, staff


def assert_doctor_clean(conn):
    assert [r for r in run_checks(conn) if not r["ok"]] == []


def test_registering_takes_a_seat_until_full_then_waitlists(conn):
    event = published_event(conn, capacity=2)
    a, b, c, d = insert_users(conn, 4)
    assert registration.register(conn, a, event["slug"])["status"] == "registered"
    assert registration.register(conn, b, str(event["id"]))["status"] == "registered"
    third = registration.register(conn, c, event["slug"])
    assert (third["status"], third["position"]) == ("waitlisted", 1)
    assert registration.register(conn, d, event["slug"])["position"] == 2
    state = event_state(conn, event["id"])
    assert state["registered_count"] == 2 and state["waitlist"] == [c.id, d.id]
    assert_doctor_clean(conn)


def test_registering_twice_is_refused_by_the_unique_index(conn):
    event = published_event(conn, capacity=1)
    a, b = insert_users(conn, 2)
    registration.register(conn, a, event["slug"])
    with pytest.raises(DomainError, match="already registered"):
        registration.register(conn, a, event["slug"])
    registration.register(conn, b, event["slug"])
    with pytest.raises(DomainError, match="already waitlisted"):
        registration.register(conn, b, event["slug"])
    assert event_state(conn, event["id"])["registered_count"] == 1


def test_cancel_promotes_the_first_waiting_in_the_same_transaction(conn):
    event = published_event(conn, capacity=1)
    a, b, c = insert_users(conn, 3)
    for user in (a, b, c):
        registration.register(conn, user, event["slug"])
    assert registration.cancel(conn, a, event["slug"]) == "registered"
    state = event_state(conn, event["id"])
    assert state["registered"] == {b.id} and state["waitlist"] == [c.id]
    # after a cancellation the user may register again, at the back of the line
    assert registration.register(conn, a, event["slug"])["position"] == 2
    assert_doctor_clean(conn)


def test_cancelling_a_waitlist_place_promotes_nobody(conn):
    event = published_event(conn, capacity=1)
    a, b, c = insert_users(conn, 3)
    for user in (a, b, c):
        registration.register(conn, user, event["slug"])
    assert registration.cancel(conn, b, event["slug"]) == "waitlisted"
    assert event_state(conn, event["id"])["waitlist"] == [c.id]


def test_capacity_increase_promotes_every_seat_it_opens_in_order(conn):
    event = published_event(conn, capacity=1)
    users = insert_users(conn, 5)
    for user in users:
        registration.register(conn, user, event["slug"])
    boss = staff(conn)
    promoted = registration.set_capacity(conn, boss, event["slug"], 3)
    assert promoted == [users[1].id, users[2].id]
    state = event_state(conn, event["id"])
    assert state["registered_count"] == 3 and state["waitlist"] == [users[3].id, users[4].id]


def test_capacity_below_registered_is_refused_with_the_numbers(conn):
    event = published_event(conn, capacity=3)
    for user in insert_users(conn, 2):
        registration.register(conn, user, event["slug"])
    with pytest.raises(DomainError, match="has 2 registered: capacity cannot go down to 1"):
        registration.set_capacity(conn, staff(conn), event["slug"], 1)
    with pytest.raises(InvalidInput):
        registration.set_capacity(conn, staff(conn), event["slug"], 0)


def test_staff_removal_frees_the_seat_for_the_next(conn):
    event = published_event(conn, capacity=1)
    a, b = insert_users(conn, 2)
    registration.register(conn, a, event["slug"])
    registration.register(conn, b, event["slug"])
    with pytest.raises(PermissionDenied):
        registration.cancel(conn, b, event["slug"], user_ref=a.email)
    registration.cancel(conn, staff(conn), event["slug"], user_ref=a.email, reason="no-show policy")
    assert event_state(conn, event["id"])["registered"] == {b.id}


def test_registration_refused_for_drafts_cancelled_past_and_outside_the_window(conn):
    boss = staff(conn)
    (user,) = insert_users(conn, 1)
    draft = events.create(conn, boss, "Draft", 5, "2099-01-01T10:00")
    with pytest.raises(DomainError, match="draft"):
        registration.register(conn, user, draft["slug"])
    soon = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    windowed = events.create(conn, boss, "Windowed", 5, soon, registration_opens=later, publish=True)
    with pytest.raises(DomainError, match="opens at"):
        registration.register(conn, user, windowed["slug"])
    past = events.create(conn, boss, "Past", 5, "2001-01-01T10:00", publish=True)
    with pytest.raises(DomainError, match="already started"):
        registration.register(conn, user, past["slug"])
    cancelled = published_event(conn, 5, "Cancelled")
    events.cancel(conn, boss, cancelled["slug"])
    with pytest.raises(DomainError, match="cancelled"):
        registration.register(conn, user, cancelled["slug"])
    with pytest.raises(NotFound):
        registration.register(conn, user, "no-such-event")


def test_event_cancel_cancels_registrations_and_waitlist(conn):
    event = published_event(conn, capacity=1)
    for user in insert_users(conn, 3):
        registration.register(conn, user, event["slug"])
    assert events.cancel(conn, staff(conn), event["slug"], "room flooded") == 3
    state = event_state(conn, event["id"])
    assert state["registered_count"] == 0 and state["waitlist"] == [] and state["registered"] == set()
    assert_doctor_clean(conn)


def test_waitlist_move_promote_remove_and_leave(conn):
    event = published_event(conn, capacity=1)
    users = insert_users(conn, 5)
    for user in users:
        registration.register(conn, user, event["slug"])
    boss = staff(conn)
    # waitlist: 1, 2, 3, 4 -> move 4 to the front, 1 to position 3
    assert waitlist.move(conn, boss, event["slug"], users[4].email, 1) == 1
    assert waitlist.move(conn, boss, event["slug"], users[1].email, 3) == 3
    assert event_state(conn, event["id"])["waitlist"] == [users[4].id, users[2].id, users[1].id, users[3].id]
    assert waitlist.move(conn, boss, event["slug"], users[2].email, 99) == 4  # past the end: last
    assert waitlist.move(conn, boss, event["slug"], users[2].email, 2) == 2
    assert event_state(conn, event["id"])["waitlist"] == [users[4].id, users[2].id, users[1].id, users[3].id]
    with pytest.raises(DomainError, match="no free seat"):
        waitlist.promote(conn, boss, event["slug"], users[2].email)
    waitlist.promote(conn, boss, event["slug"], users[2].email, over_capacity=True, reason="speaker's guest")
    state = event_state(conn, event["id"])
    assert state["capacity"] == 2 and users[2].id in state["registered"]
    waitlist.remove(conn, boss, event["slug"], users[1].email)
    waitlist.leave(conn, users[3], event["slug"])
    assert event_state(conn, event["id"])["waitlist"] == [users[4].id]
    # the next freed seat goes to the person moved to the front
    registration.cancel(conn, users[0], event["slug"])
    assert users[4].id in event_state(conn, event["id"])["registered"]
    assert_doctor_clean(conn)


def test_checkin_and_attendance(conn):
    event = published_event(conn, capacity=2)
    a, b = insert_users(conn, 2)
    registration.register(conn, a, event["slug"])
    registration.register(conn, b, event["slug"])
    boss = staff(conn)
    registration.checkin(conn, boss, event["slug"], a.email)
    with pytest.raises(DomainError, match="already checked in"):
        registration.checkin(conn, boss, event["slug"], a.email)
    _, rows = registration.attendance(conn, boss, event["slug"])
    assert {r["email"]: r["present"] for r in rows} == {a.email: True, b.email: False}
    registration.checkin(conn, boss, event["slug"], a.email, undo=True)
    _, rows = registration.attendance(conn, boss, event["slug"])
    assert not any(r["present"] for r in rows)


def test_every_change_is_in_the_history(conn):
    event = published_event(conn, capacity=1)
    a, b = insert_users(conn, 2)
    boss = staff(conn)
    registration.register(conn, a, event["slug"])
    registration.register(conn, b, event["slug"])
    registration.checkin(conn, boss, event["slug"], a.email)
    registration.cancel(conn, a, event["slug"])
    registration.set_capacity(conn, boss, event["slug"], 4, reason="bigger room")
    _, rows = registration.history(conn, boss, event["slug"])
    actions = [r["action"] for r in rows]
    assert actions == [
        "event.created",
        "registered",
        "waitlisted",
        "checked_in",
        "cancelled",
        "promoted",
        "capacity_changed",
    ]
    assert rows[-1]["reason"] == "bigger room" and rows[-1]["actor"] == boss.email


def test_schedule_and_capacity_rules(conn):
    boss = staff(conn)
    with pytest.raises(InvalidInput, match="end after"):
        events.create(conn, boss, "Backwards", 5, "2099-01-01T10:00", ends_at="2099-01-01T09:00")
    with pytest.raises(InvalidInput, match="capacity"):
        events.create(conn, boss, "Empty", 0, "2099-01-01T10:00")
    with pytest.raises(InvalidInput, match="ISO 8601"):
        events.create(conn, boss, "When", 5, "next tuesday")
    first = events.create(conn, boss, "Same Title", 5, "2099-01-01T10:00")
    second = events.create(conn, boss, "Same Title", 5, "2099-01-01T10:00")
    assert (first["slug"], second["slug"]) == ("same-title", "same-title-2")
    with pytest.raises(PermissionDenied):
        events.create(conn, insert_users(conn, 1)[0], "Student event", 5, "2099-01-01T10:00")
