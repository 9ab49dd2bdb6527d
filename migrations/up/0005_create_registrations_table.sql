-- Registrations and waitlist places share one table, so one partial unique index
-- guarantees a user is never both registered and waitlisted for the same event.
CREATE SEQUENCE waitlist_rank_seq;

CREATE TABLE registrations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('registered', 'waitlisted', 'cancelled')),
    -- Waitlist order: taken from waitlist_rank_seq on joining (join order, never renumbered);
    -- a staff move gives a value between two neighbours, hence numeric.
    waitlist_rank numeric,
    created_at    timestamptz NOT NULL DEFAULT now(),
    registered_at timestamptz,
    cancelled_at  timestamptz,
    checked_in_at timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT registrations_rank_iff_waitlisted CHECK ((status = 'waitlisted') = (waitlist_rank IS NOT NULL)),
    CONSTRAINT registrations_checkin_needs_seat CHECK (checked_in_at IS NULL OR status = 'registered'),
    CONSTRAINT registrations_seat_has_time CHECK (status <> 'registered' OR registered_at IS NOT NULL)
);

-- One live registration (registered or waitlisted) per user per event; after a
-- cancellation the user may register again.
CREATE UNIQUE INDEX registrations_one_live_per_user
    ON registrations (event_id, user_id) WHERE status IN ('registered', 'waitlisted');
-- The head of each waitlist in one index probe, however long the list is.
CREATE INDEX registrations_waitlist_order
    ON registrations (event_id, waitlist_rank, id) WHERE status = 'waitlisted';
CREATE INDEX registrations_user_idx ON registrations (user_id);
CREATE INDEX registrations_event_status_idx ON registrations (event_id, status, id);
