-- Events. registered_count is the number of 'registered' rows in registrations;
-- it changes only under this row's lock (see registration/service.py).
CREATE TABLE events (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                   text NOT NULL UNIQUE
                           CHECK (char_length(slug) BETWEEN 1 AND 80
                                  AND slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND slug ~ '[a-z]'),
    title                  text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description            text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    location               text NOT NULL DEFAULT '' CHECK (char_length(location) <= 200),
    capacity               integer NOT NULL CHECK (capacity > 0),
    registered_count       integer NOT NULL DEFAULT 0 CHECK (registered_count >= 0),
    starts_at              timestamptz NOT NULL,
    ends_at                timestamptz NOT NULL,
    registration_opens_at  timestamptz,
    registration_closes_at timestamptz,
    status                 text NOT NULL DEFAULT 'draft'
                           CHECK (status IN ('draft', 'published', 'cancelled')),
    created_by             bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_seats_within_capacity CHECK (registered_count <= capacity),
    CONSTRAINT events_ends_after_start CHECK (ends_at > starts_at),
    CONSTRAINT events_window_in_order CHECK (
        registration_opens_at IS NULL OR registration_closes_at IS NULL
        OR registration_closes_at > registration_opens_at)
);

CREATE INDEX events_starts_at_idx ON events (starts_at);
