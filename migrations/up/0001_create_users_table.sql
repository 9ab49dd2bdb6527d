-- Users: one row per person; emails are unique whatever their case.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL
                  CHECK (char_length(email) BETWEEN 3 AND 254
                         AND email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200 AND name = btrim(name)),
    role          text NOT NULL DEFAULT 'student' CHECK (role IN ('student', 'staff', 'admin')),
    -- NULL means no usable password: the user must complete a reset first (imported users)
    password_hash text CHECK (password_hash IS NULL OR password_hash LIKE '$2%'),
    is_active     boolean NOT NULL DEFAULT true,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
