-- Limits on guessing that hold however many processes guess at once, and security
-- questions from one published catalogue.
--
-- auth_throttle counts attempts per path and subject in one atomic statement (an
-- INSERT ... ON CONFLICT DO UPDATE, which locks the row), before the answer is
-- checked; see auth/repository.py. The subject is the lower-cased email as typed,
-- whether or not an account has it, so an unknown email behaves exactly like a
-- real one, or a client address for the server's per-client limit.
CREATE TABLE auth_throttle (
    path              text NOT NULL CHECK (path IN ('login', 'questions', 'code', 'client')),
    subject           text NOT NULL CHECK (char_length(subject) <= 320),
    attempts          integer NOT NULL CHECK (attempts >= 0),
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (path, subject)
);
CREATE INDEX auth_throttle_window_idx ON auth_throttle (window_started_at);

DROP TABLE auth_failures;
ALTER TABLE users DROP COLUMN locked_until;

-- Everyone answers two questions of this catalogue. A stranger who asks to reset an
-- address sees two of these, for a real account and an unknown address alike, and
-- never a person's own free text.
CREATE TABLE security_question_catalogue (
    key  smallint PRIMARY KEY,
    text text NOT NULL UNIQUE
);
INSERT INTO security_question_catalogue (key, text) VALUES
    (1, 'What is your favourite colour?'),
    (2, 'What was your first pet''s name?'),
    (3, 'In which city were you born?'),
    (4, 'What was the name of your first school?'),
    (5, 'What is your oldest sibling''s middle name?'),
    (6, 'What was the make of your first car?'),
    (7, 'What is your favourite book?'),
    (8, 'What was your childhood nickname?'),
    (9, 'On which street did you grow up?'),
    (10, 'What was the first concert you went to?');

ALTER TABLE security_questions ADD COLUMN question_key smallint REFERENCES security_question_catalogue (key);
UPDATE security_questions q
   SET question_key = c.key
  FROM security_question_catalogue c
 WHERE lower(q.question) = lower(c.text);
-- Free-text questions outside the catalogue cannot be asked any more: their owners
-- set new ones with `eventreg user security-questions` (the README says so).
DELETE FROM security_questions WHERE question_key IS NULL;
DELETE FROM security_questions q
 WHERE (SELECT count(*) FROM security_questions o WHERE o.user_id = q.user_id AND o.id < q.id) >= 2;
ALTER TABLE security_questions ALTER COLUMN question_key SET NOT NULL;
DROP INDEX security_questions_user_question_key;
ALTER TABLE security_questions DROP COLUMN question;
CREATE UNIQUE INDEX security_questions_user_key ON security_questions (user_id, question_key);
