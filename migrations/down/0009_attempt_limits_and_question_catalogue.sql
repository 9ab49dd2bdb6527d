DROP INDEX security_questions_user_key;
ALTER TABLE security_questions ADD COLUMN question text;
UPDATE security_questions q SET question = c.text
  FROM security_question_catalogue c WHERE c.key = q.question_key;
ALTER TABLE security_questions ALTER COLUMN question SET NOT NULL;
ALTER TABLE security_questions ADD CONSTRAINT security_questions_question_check
    CHECK (char_length(question) BETWEEN 3 AND 200);
CREATE UNIQUE INDEX security_questions_user_question_key ON security_questions (user_id, lower(question));
ALTER TABLE security_questions DROP COLUMN question_key;
DROP TABLE security_question_catalogue;

ALTER TABLE users ADD COLUMN locked_until timestamptz;
CREATE TABLE auth_failures (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('login', 'reset')),
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_failures_user_at_idx ON auth_failures (user_id, at);
DROP TABLE auth_throttle;
