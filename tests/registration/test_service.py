"""Registration and waitlist rules, through the services, against the real schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventreg.db.doctor import run_checks
from eventreg.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from eventreg.events import service as events
from eventreg.registration import service as registration
from eventreg.waitlist import service as waitlist
from tests.support import event_state, insert_users, published_event, staff


def doctor_clean(conn):
    return [r for r in run_checks(conn) if not r["ok"]] == []


def test_registering_takes_a_seat_until_full_then_waitlists(db, conn, work):
    event = published_event(db, capacity=2)
    a, b, c, d = insert_users(conn, 4)
    with work() as uow:
        assert registration.register(uow, a, event.slug).status == "registered"
    with work() as uow:
        assert registration.register(uow, b, str(event.id)).status == "registered"
    with work() as uow:
        third = registration.register(uow, c, event.slug)
    assert (third.status, third.position) == ("waitlisted", 1)
    with work() as uow:
        assert registration.register(uow, d, event.slug).position == 2
    state = event_state(conn, event.id)
    assert state["registered_count"] == 2 and state["waitlist"] == [c.id, d.id] and state["waitlist_length"] == 2
    assert doctor_clean(conn)


def test_registering_twice_is_refused_by_the_unique_index(db, conn, work):
    event = published_event(db, capacity=1)
    a, b = insert_users(conn, 2)
    for user in (a, b):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with pytest.raises(DomainError, match="already registered"), work() as uow:
        registration.register(uow, a, event.slug)
    with pytest.raises(DomainError, match="already waitlisted"), work() as uow:
        registration.register(uow, b, event.slug)
    assert event_state(conn, event.id)["registered_count"] == 1


def test_cancel_promotes_the_first_waiting_in_the_same_transaction(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b, c = insert_users(conn, 3)
    for user in (a, b, c):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        done = registration.cancel(uow, a, event.slug)
    assert done.was == "registered" and done.promoted == []  # who got the seat is not a's business
    state = event_state(conn, event.id)
    assert state["registered"] == {b.id} and state["waitlist"] == [c.id]
    with work() as uow:  # after a cancellation one may register again, at the back of the line
        assert registration.register(uow, a, event.slug).position == 2
    with work() as uow:  # the organiser who frees a seat is told who got it
        done = registration.cancel(uow, boss, event.slug, b.email, reason="asked to")
    assert [p.email for p in done.promoted] == [c.email]
    reasons = conn.execute(
        "SELECT reason FROM audit_log WHERE event_id = %s AND action = 'promoted' ORDER BY id", (event.id,)
    ).fetchall()
    assert [r["reason"] for r in reasons] == ["seat freed by a cancellation", "seat freed by a removal"]
    assert doctor_clean(conn)


def test_once_the_event_has_started_a_seat_stays_with_its_check_in_unless_an_organiser_removes_it(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b = insert_users(conn, 2)
    for user in (a, b):
        with work() as uow:
            registration.register(uow, user, event.slug)
    conn.execute(  # the event began an hour ago and a was checked in
        "UPDATE events SET starts_at = now() - interval '1 hour', ends_at = now() + interval '1 hour' WHERE id = %s",
        (event.id,),
    )
    conn.execute(
        "UPDATE registrations SET checked_in_at = now() WHERE event_id = %s AND user_id = %s", (event.id, a.id)
    )
    with pytest.raises(DomainError, match="has already started: your seat can no longer be cancelled"), work() as uow:
        registration.cancel(uow, a, event.slug)
    held = conn.execute(
        "SELECT status, checked_in_at IS NOT NULL AS present FROM registrations WHERE event_id = %s AND user_id = %s",
        (event.id, a.id),
    ).fetchone()
    assert held == {"status": "registered", "present": True}
    with work() as uow:  # leaving the line is still one's own business
        assert registration.leave_waitlist(uow, b, event.slug).position == 1
    conn.execute("UPDATE events SET starts_at = now() + interval '1 hour', ends_at = now() + interval '2 hours'"
                 " WHERE id = %s", (event.id,))  # fmt: skip
    with pytest.raises(DomainError, match="you were checked in at"), work() as uow:  # doors open early
        registration.cancel(uow, a, event.slug)
    with work() as uow:
        assert registration.cancel(uow, boss, event.slug, a.email, reason="left early").was == "registered"
    assert doctor_clean(conn)


def test_cancelling_a_waitlist_place_promotes_nobody(db, conn, work):
    event = published_event(db, capacity=1)
    a, b, c = insert_users(conn, 3)
    for user in (a, b, c):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        done = registration.cancel(uow, b, event.slug)
    assert done.was == "waitlisted" and done.promoted == []
    assert event_state(conn, event.id)["waitlist"] == [c.id]


def test_capacity_increase_promotes_every_seat_it_opens_in_order(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    users = insert_users(conn, 5)
    for user in users:
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        change = registration.change_capacity(uow, boss, event.slug, 3)
    assert [p.email for p in change.promoted] == [users[1].email, users[2].email]
    state = event_state(conn, event.id)
    assert state["registered_count"] == 3 and state["waitlist"] == [users[3].id, users[4].id]


def test_capacity_below_registered_is_refused_with_the_numbers(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=3, organiser=boss)
    for user in insert_users(conn, 2):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with pytest.raises(DomainError, match="has 2 registered: capacity cannot go down to 1"), work() as uow:
        registration.change_capacity(uow, boss, event.slug, 1)
    with pytest.raises(InvalidInput), work() as uow:
        registration.change_capacity(uow, boss, event.slug, 0)


def test_only_organisers_and_admins_remove_someone(db, conn, work, people):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b = insert_users(conn, 2)
    for user in (a, b):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with pytest.raises(PermissionDenied), work() as uow:
        registration.cancel(uow, b, event.slug, user_ref=a.email)
    with pytest.raises(PermissionDenied, match="only the organisers"), work() as uow:
        registration.cancel(uow, staff(conn), event.slug, user_ref=a.email)  # other staff may look, not change
    with work() as uow:
        done = registration.cancel(uow, boss, event.slug, user_ref=a.email, reason="no-show policy")
    assert [p.email for p in done.promoted] == [b.email]
    with work() as uow:  # an admin may change any event
        registration.cancel(uow, people["admin"], event.slug, user_ref=b.email)
    assert event_state(conn, event.id)["registered"] == set()


def test_registration_refused_for_cancelled_past_and_outside_the_window(db, conn, work):
    boss = staff(conn)
    (user,) = insert_users(conn, 1)
    soon = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    with work() as uow:
        windowed = events.create(
            uow, boss, title="Windowed", capacity=5, starts_at=soon, registration_opens=later, publish=True
        )
        past = events.create(
            uow, boss, title="Past", capacity=5, starts_at="2001-01-01T10:00", publish=True, allow_past=True
        )
    with pytest.raises(DomainError, match="opens at"), work() as uow:
        registration.register(uow, user, windowed.slug)
    with pytest.raises(DomainError, match="already started"), work() as uow:
        registration.register(uow, user, past.slug)
    cancelled = published_event(db, 5, "Cancelled", organiser=boss)
    with work() as uow:
        registration.cancel_event(uow, boss, cancelled.slug)
    with pytest.raises(DomainError, match="cancelled"), work() as uow:
        registration.register(uow, user, cancelled.slug)
    with pytest.raises(NotFound), work() as uow:
        registration.register(uow, user, "no-such-event")


def test_a_draft_is_not_found_for_students_by_slug_or_id(db, conn, work):
    boss = staff(conn)
    (student,) = insert_users(conn, 1)
    with work() as uow:
        draft = events.create(uow, boss, title="Secret Plans", capacity=5, starts_at="2099-01-01T10:00")
    for ref in (draft.slug, str(draft.id)):
        for call in (registration.register, registration.cancel, registration.leave_waitlist):
            with pytest.raises(NotFound) as refused, work() as uow:
                call(uow, student, ref)
            assert "Secret Plans" not in str(refused.value) and "draft" not in str(refused.value)
        with pytest.raises(NotFound), work() as uow:
            events.visible(uow, student, ref)
    with work() as uow:
        assert events.visible(uow, staff(uow.conn), draft.slug).status == "draft"


def test_event_cancel_cancels_seats_and_places_each_in_the_history(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b = insert_users(conn, 2)
    for user in (a, b):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        done = registration.cancel_event(uow, boss, event.slug, reason="speaker ill")
    assert (done.registered, done.waitlisted, sorted(done.people)) == (1, 1, sorted([a.email, b.email]))
    state = event_state(conn, event.id)
    assert state["registered_count"] == 0 and state["waitlist"] == [] and state["waitlist_length"] == 0
    actions = [
        r["action"] for r in conn.execute("SELECT action FROM audit_log WHERE event_id = %s ORDER BY id", (event.id,))
    ]
    assert actions.count("cancelled") == 2 and actions[-1] == "event.cancelled"
    with pytest.raises(DomainError, match="already cancelled"), work() as uow:
        registration.cancel_event(uow, boss, event.slug)
    assert doctor_clean(conn)


def test_waitlist_move_promote_remove_and_leave(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b, c, d = insert_users(conn, 4)
    for user in (a, b, c, d):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        assert waitlist.move(uow, boss, event.slug, d.email, 1).position == 1
    assert event_state(conn, event.id)["waitlist"] == [d.id, b.id, c.id]
    with work() as uow:
        assert waitlist.move(uow, boss, event.slug, d.email, 99).position == 3  # past the end: last
    assert event_state(conn, event.id)["waitlist"] == [b.id, c.id, d.id]
    with pytest.raises(DomainError, match="over-capacity"), work() as uow:
        registration.promote_chosen(uow, boss, event.slug, c.email)
    with work() as uow:
        registration.promote_chosen(uow, boss, event.slug, c.email, over_capacity=True, reason="speaker's guest")
    state = event_state(conn, event.id)
    assert state["capacity"] == 2 and state["registered"] == {a.id, c.id} and state["waitlist"] == [b.id, d.id]
    with work() as uow:
        assert registration.remove_from_waitlist(uow, boss, event.slug, b.email, reason="asked to").position == 1
    with work() as uow:
        assert registration.leave_waitlist(uow, d, event.slug).position == 1
    with pytest.raises(NotFound), work() as uow:
        registration.leave_waitlist(uow, d, event.slug)
    assert event_state(conn, event.id)["waitlist"] == []
    assert doctor_clean(conn)


def test_someone_moved_to_the_end_stays_ahead_of_whoever_joins_next(db, conn, work):
    """A move to the end takes the rank sequence's next value (under the event lock), so the
    next joiner, who takes the one after, lines up behind, and is told the right position."""
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b, c, d = insert_users(conn, 4)
    for user in (a, b, c):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        assert waitlist.move(uow, boss, event.slug, b.email, 2).position == 2
    assert doctor_clean(conn)
    with work() as uow:
        assert registration.register(uow, d, event.slug).position == 3
    assert event_state(conn, event.id)["waitlist"] == [c.id, b.id, d.id]
    assert doctor_clean(conn)


def test_waitlist_pages_count_positions_on_from_the_cursor(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    users = insert_users(conn, 12)
    for user in users:
        with work() as uow:
            registration.register(uow, user, event.slug)
    seen = []
    after = None
    while True:
        with work() as uow:
            page = waitlist.entries(uow, boss, event.slug, after, 5)
        seen += [(e.position, e.user_id) for e in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == [(n, u.id) for n, u in enumerate(users[1:], 1)]


def test_every_change_is_in_the_history_in_the_order_it_happened(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b = insert_users(conn, 2)
    for user in (a, b):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        registration.checkin(uow, boss, event.slug, a.email)
    with work() as uow:  # checked in: only an organiser can take the seat back
        registration.cancel(uow, boss, event.slug, a.email, reason="left early")
    with work() as uow:
        page = registration.history(uow, boss, event.slug, None, 50)
    assert [h.action for h in page.items] == [
        "event.created", "registered", "waitlisted", "checked_in", "removed", "promoted",
    ]  # fmt: skip
    times = [h.at for h in page.items]
    assert times == sorted(times)


def test_checkin_needs_a_seat_and_can_be_taken_back(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=1, organiser=boss)
    a, b = insert_users(conn, 2)
    for user in (a, b):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with pytest.raises(NotFound, match="not registered"), work() as uow:
        registration.checkin(uow, boss, event.slug, b.email)
    with work() as uow:
        assert registration.checkin(uow, boss, event.slug, a.email).checked_in_at is not None
    with pytest.raises(DomainError, match="already checked in"), work() as uow:
        registration.checkin(uow, boss, event.slug, a.email)
    with work() as uow:
        page = registration.attendance(uow, boss, event.slug, None, 10)
    assert [(x.email, x.present) for x in page.items] == [(a.email, True)]
    with work() as uow:
        assert registration.checkin(uow, boss, event.slug, a.email, undo=True).checked_in_at is None


def test_stats_come_from_one_snapshot(db, conn, work):
    boss = staff(conn)
    event = published_event(db, capacity=2, organiser=boss)
    for user in insert_users(conn, 3):
        with work() as uow:
            registration.register(uow, user, event.slug)
    with work() as uow:
        report = registration.stats(uow, boss, event.slug)
    assert (report.registered, report.waitlist, report.present, report.attendance_rate) == (2, 1, 0, 0.0)
    assert sum(d.signups for d in report.signups_per_day) == 3
