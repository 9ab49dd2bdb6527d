-- Sessions make logout and revocation real: a token is valid only while its row is.
CREATE TABLE sessions (
    jti        uuid PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Failed logins and reset attempts, counted for the lockout rule.
CREATE TABLE auth_failures (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('login', 'reset')),
    at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX auth_failures_user_at_idx ON auth_failures (user_id, at);
