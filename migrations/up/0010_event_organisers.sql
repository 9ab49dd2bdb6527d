-- Who manages an event: its creator, and staff the organisers or an admin add.
-- Other staff may see the event but not change it.
CREATE TABLE event_organisers (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_by bigint REFERENCES users (id) ON DELETE SET NULL,
    added_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_organisers_user_idx ON event_organisers (user_id);

INSERT INTO event_organisers (event_id, user_id, added_by, added_at)
SELECT id, created_by, created_by, created_at FROM events WHERE created_by IS NOT NULL;
