-- Every state change: who did it, when, why.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    action          text NOT NULL,
    event_id        bigint REFERENCES events (id) ON DELETE CASCADE,
    subject_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    reason          text CHECK (char_length(reason) <= 500),
    details         jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_event_idx ON audit_log (event_id, id);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_user_id, id);
