-- One-time reset codes an admin hands out (imported users, new admins without a
-- password). Only a bcrypt hash of the code is kept; a code works once, until it expires.
CREATE TABLE password_resets (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
