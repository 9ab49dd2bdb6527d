-- Security questions for password reset; answers are bcrypt hashes of the normalised answer.
CREATE TABLE security_questions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question    text NOT NULL CHECK (char_length(question) BETWEEN 3 AND 200),
    answer_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX security_questions_user_question_key ON security_questions (user_id, lower(question));
