"""LocalApi: each use case in one unit of work on a database, as the user of a session token.

The command line uses it when it holds the database; `eventreg serve` builds one
per request, with that request's bearer token and client address, so both run
exactly the same code. Each method opens the unit of work (one connection, one
transaction), authenticates the token where the use case needs a user, calls the
service, and returns its typed result; a dry run does the same and rolls back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from eventreg.admin import importer
from eventreg.admin import service as admin
from eventreg.auth import service as auth
from eventreg.config import Settings
from eventreg.db import export as db_export
from eventreg.db.uow import ConnectionSource, UnitOfWork, unit_of_work
from eventreg.errors import EventregError
from eventreg.events import service as events
from eventreg.registration import service as registration
from eventreg.roles import ADMIN, Actor, require
from eventreg.users import service as users
from eventreg.views import (
    AdminUser,
    AttendanceQuery,
    Attendee,
    Cancellation,
    CapacityChange,
    CheckIn,
    Enrolment,
    Event,
    EventCancellation,
    EventChanges,
    EventDraft,
    EventsQuery,
    EventStats,
    EventUpdate,
    HistoryEntry,
    HistoryQuery,
    ImportReport,
    ListQuery,
    Login,
    MineQuery,
    MyRegistration,
    Organiser,
    Page,
    Profile,
    Question,
    Registration,
    RegistrationsQuery,
    SessionInfo,
    User,
    UserChange,
    UsersQuery,
    WaitlistChange,
    WaitlistEntry,
    WaitlistQuery,
)
from eventreg.waitlist import service as waitlist

TokenSource = Callable[[], str | None]


class LocalApi:
    def __init__(
        self, settings: Settings, source: ConnectionSource, token: TokenSource, client: str | None = None
    ) -> None:
        self.settings = settings
        self._source = source
        self._token = token
        self._client = client  # the address of an HTTP client, for the per-client attempt limit
        self.user_id: int | None = None  # who the last call was made as, once known (the server logs it)

    @contextmanager
    def _work(self, *, snapshot: bool = False, dry_run: bool = False, autocommit: bool = False) -> Iterator[UnitOfWork]:
        with unit_of_work(self._source, snapshot=snapshot, dry_run=dry_run, autocommit=autocommit) as uow:
            yield uow

    @contextmanager
    def _signed_in(
        self, *, snapshot: bool = False, dry_run: bool = False, autocommit: bool = False
    ) -> Iterator[tuple[UnitOfWork, Actor]]:
        with self._work(snapshot=snapshot, dry_run=dry_run, autocommit=autocommit) as uow:
            actor = auth.authenticate(uow, self.settings, self._token())
            self.user_id = actor.id
            yield uow, actor

    @contextmanager
    def _maybe_signed_in(self) -> Iterator[tuple[UnitOfWork, Actor | None]]:
        """Public reads that show more to staff: a missing or stale token means anonymous."""
        with self._work() as uow:
            token, actor = self._token(), None
            if token:
                try:
                    actor = auth.authenticate(uow, self.settings, token)
                    self.user_id = actor.id
                except EventregError:
                    actor = None
            yield uow, actor

    # -- anyone -------------------------------------------------------------------------

    def questions(self) -> list[Question]:
        with self._work() as uow:
            return auth.catalogue(uow)

    def sign_up(self, email: str, name: str, password: str, answers: list[tuple[int, str]]) -> User:
        with self._work() as uow:
            return auth.sign_up(uow, self.settings, email, name, password, answers, self._client)

    def login(self, email: str, password: str) -> Login:
        login = auth.login(self._work, self.settings, email, password, self._client, replaced=self._token())
        self.user_id = login.user.id
        return login

    def reset_questions(self, email: str) -> list[Question]:
        with self._work() as uow:
            return auth.reset_questions(uow, self.settings, email)

    def reset_with_answers(self, email: str, answers: list[str], new_password: str) -> None:
        with self._work() as uow:
            auth.reset_with_answers(uow, self.settings, email, answers, new_password, self._client)

    def reset_with_code(self, email: str, code: str, new_password: str) -> None:
        with self._work() as uow:
            auth.reset_with_code(uow, self.settings, email, code, new_password, self._client)

    def bootstrap_admin(self, email: str, name: str, password: str) -> User:
        with self._work() as uow:
            return admin.bootstrap(uow, self.settings, email, name, password)

    def list_events(self, query: EventsQuery, after: str | None, limit: int) -> Page[Event]:
        with self._maybe_signed_in() as (uow, actor):
            return events.listing(uow, actor, query.scope, query.mine, after, limit)

    def show_event(self, ref: str) -> Event:
        with self._maybe_signed_in() as (uow, actor):
            return events.visible(uow, actor, ref)

    # -- signed in ------------------------------------------------------------------------

    def session(self) -> SessionInfo:
        with self._signed_in() as (uow, actor):
            return auth.session_info(uow, actor)

    def logout(self, everywhere: bool = False) -> int:
        with self._signed_in() as (uow, actor):
            return auth.logout(uow, actor, everywhere)

    def change_password(self, current: str, new: str) -> int:
        with self._signed_in() as (uow, actor):
            return auth.change_password(uow, self.settings, actor, current, new)

    def profile(self) -> Profile:
        with self._signed_in() as (uow, actor):
            return users.profile(uow, actor)

    def rename(self, name: str) -> User:
        with self._signed_in() as (uow, actor):
            return users.rename(uow, actor, name)

    def change_email(self, current_password: str, email: str) -> UserChange:
        with self._signed_in() as (uow, actor):
            user, ended = auth.change_email(uow, self.settings, actor, current_password, email)
            return UserChange(user, "email_changed", revoked_sessions=ended)

    def set_questions(self, current_password: str, answers: list[tuple[int, str]]) -> int:
        with self._signed_in() as (uow, actor):
            return auth.set_questions(uow, self.settings, actor, current_password, answers)

    # Registering, cancelling and leaving read who is asking, then decide in one statement
    # (the seat functions): autocommit spares the BEGIN and COMMIT round trips around them.
    def register(self, ref: str) -> Enrolment:
        with self._signed_in(autocommit=True) as (uow, actor):
            return registration.register(uow, actor, ref)

    def cancel_registration(
        self, ref: str, user: str | None, reason: str | None, dry_run: bool = False
    ) -> Cancellation:
        with self._signed_in(dry_run=dry_run, autocommit=not dry_run) as (uow, actor):
            return _dry(registration.cancel(uow, actor, ref, user, reason), dry_run)

    def list_mine(self, query: MineQuery, after: str | None, limit: int) -> Page[MyRegistration]:
        with self._signed_in() as (uow, actor):
            return registration.mine(uow, actor, query.past, after, limit)

    def leave_waitlist(self, ref: str) -> WaitlistChange:
        with self._signed_in(autocommit=True) as (uow, actor):
            return registration.leave_waitlist(uow, actor, ref)

    # -- staff ------------------------------------------------------------------------------

    def create_event(self, draft: EventDraft) -> Event:
        with self._signed_in() as (uow, actor):
            return events.create(uow, actor, **vars(draft))

    def update_event(self, ref: str, changes: EventChanges, dry_run: bool = False) -> EventUpdate:
        with self._signed_in(dry_run=dry_run) as (uow, actor):
            event = events.update(uow, actor, ref, changes.details(), changes.reason, changes.allow_past)
            capacity = None
            if changes.capacity is not None:
                capacity = registration.change_capacity(uow, actor, ref, changes.capacity, changes.reason)
                event = events.visible(uow, actor, ref)
            return EventUpdate(event, capacity, dry_run)

    def publish_event(self, ref: str, allow_past: bool = False) -> Event:
        with self._signed_in() as (uow, actor):
            return events.publish(uow, actor, ref, allow_past)

    def cancel_event(self, ref: str, reason: str | None, dry_run: bool = False) -> EventCancellation:
        with self._signed_in(dry_run=dry_run) as (uow, actor):
            return _dry(registration.cancel_event(uow, actor, ref, reason), dry_run)

    def organisers(self, ref: str) -> list[Organiser]:
        with self._signed_in() as (uow, actor):
            return events.organisers(uow, actor, ref)

    def add_organiser(self, ref: str, user: str) -> Organiser:
        with self._signed_in() as (uow, actor):
            return events.add_organiser(uow, actor, ref, user)

    def remove_organiser(self, ref: str, user: str) -> Organiser:
        with self._signed_in() as (uow, actor):
            return events.remove_organiser(uow, actor, ref, user)

    def checkin(self, ref: str, user: str, undo: bool = False) -> CheckIn:
        with self._signed_in() as (uow, actor):
            return registration.checkin(uow, actor, ref, user, undo)

    def list_attendance(self, query: AttendanceQuery, after: str | None, limit: int) -> Page[Attendee]:
        with self._signed_in() as (uow, actor):
            return registration.attendance(uow, actor, query.event, after, limit)

    def list_history(self, query: HistoryQuery, after: str | None, limit: int) -> Page[HistoryEntry]:
        with self._signed_in() as (uow, actor):
            return registration.history(uow, actor, query.event, after, limit)

    def stats(self, ref: str, utc_offset_minutes: int) -> EventStats:
        with self._signed_in(snapshot=True) as (uow, actor):  # every figure from one moment
            return registration.stats(uow, actor, ref, utc_offset_minutes)

    def list_waitlist(self, query: WaitlistQuery, after: str | None, limit: int) -> Page[WaitlistEntry]:
        with self._signed_in() as (uow, actor):
            return waitlist.entries(uow, actor, query.event, after, limit)

    def promote(
        self, ref: str, user: str, over_capacity: bool, reason: str | None, dry_run: bool = False
    ) -> WaitlistChange:
        with self._signed_in(dry_run=dry_run) as (uow, actor):
            return _dry(registration.promote_chosen(uow, actor, ref, user, over_capacity, reason), dry_run)

    def move(self, ref: str, user: str, to: int, reason: str | None) -> WaitlistChange:
        with self._signed_in() as (uow, actor):
            return waitlist.move(uow, actor, ref, user, to, reason)

    def remove_from_waitlist(self, ref: str, user: str, reason: str | None, dry_run: bool = False) -> WaitlistChange:
        with self._signed_in(dry_run=dry_run) as (uow, actor):
            return _dry(registration.remove_from_waitlist(uow, actor, ref, user, reason), dry_run)

    # -- admins ---------------------------------------------------------------------------------

    def create_admin(self, email: str, name: str, password: str | None) -> UserChange:
        with self._signed_in() as (uow, actor):
            return admin.create_admin(uow, self.settings, actor, email, name, password)

    def list_users(self, query: UsersQuery, after: str | None, limit: int) -> Page[User]:
        with self._signed_in() as (uow, actor):
            return admin.list_users(uow, actor, query.role, query.search, after, limit)

    def show_user(self, ref: str) -> AdminUser:
        with self._signed_in() as (uow, actor):
            return admin.show_user(uow, actor, ref)

    def set_role(self, ref: str, role: str, reason: str | None) -> UserChange:
        with self._signed_in() as (uow, actor):
            return admin.set_role(uow, actor, ref, role, reason)

    def set_active(self, ref: str, active: bool, reason: str | None, dry_run: bool = False) -> UserChange:
        with self._signed_in(dry_run=dry_run) as (uow, actor):
            return _dry(admin.set_active(uow, actor, ref, active, reason), dry_run)

    def unlock(self, ref: str, reason: str | None) -> UserChange:
        with self._signed_in() as (uow, actor):
            return admin.unlock(uow, actor, ref, reason)

    def reset_code(self, ref: str) -> UserChange:
        with self._signed_in() as (uow, actor):
            return admin.reset_code(uow, self.settings, actor, ref)

    def set_capacity(self, ref: str, seats: int, reason: str | None, dry_run: bool = False) -> CapacityChange:
        with self._signed_in(dry_run=dry_run) as (uow, actor):
            require(actor, ADMIN)  # organisers change capacity with `event update --capacity`
            return _dry(registration.change_capacity(uow, actor, ref, seats, reason), dry_run)

    def list_registrations(self, query: RegistrationsQuery, after: str | None, limit: int) -> Page[Registration]:
        with self._signed_in() as (uow, actor):
            return registration.all_registrations(uow, actor, query.event, query.user, query.status, after, limit)

    def import_users(self, lines: Iterable[str]) -> ImportReport:
        with self._signed_in() as (uow, actor):
            return importer.import_users(uow, actor, lines)

    # -- exports ------------------------------------------------------------------------------

    def export(self, query: ListQuery) -> Iterator[bytes]:
        """Every row of a list as CSV, streamed from one COPY in one snapshot."""
        if isinstance(query, EventsQuery):
            with self._maybe_signed_in() as (uow, anyone):
                sql, params = events.listing_query(uow, anyone, query.scope, query.mine, None, None)
                yield from db_export.export(uow.conn, sql, params, Event)
            return
        with self._signed_in(snapshot=True) as (uow, actor):
            sql, params, view = _export_query(uow, actor, query)
            yield from db_export.export(uow.conn, sql, params, view)


def _export_query(uow: UnitOfWork, actor: Actor, query: ListQuery) -> tuple[Any, dict[str, Any], type]:
    if isinstance(query, WaitlistQuery):
        return (*waitlist.entries_export(uow, actor, query.event), WaitlistEntry)
    if isinstance(query, AttendanceQuery):
        return (*registration.attendance_export(uow, actor, query.event), Attendee)
    if isinstance(query, HistoryQuery):
        return (*registration.history_export(uow, actor, query.event), HistoryEntry)
    if isinstance(query, MineQuery):
        return (*registration.mine_export(uow, actor, query.past), MyRegistration)
    if isinstance(query, UsersQuery):
        return (*admin.users_export(uow, actor, query.role, query.search), User)
    if isinstance(query, RegistrationsQuery):
        return (*registration.registrations_export(uow, actor, query.event, query.user, query.status), Registration)
    raise TypeError(f"no export for {type(query).__name__}")


def _dry(result: Any, dry_run: bool) -> Any:
    """Mark a result as what would have happened (the unit of work rolls it back)."""
    if dry_run and hasattr(result, "dry_run"):
        return dataclasses.replace(result, dry_run=True)
    return result
