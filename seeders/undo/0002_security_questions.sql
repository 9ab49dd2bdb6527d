DELETE FROM security_questions
 WHERE user_id IN (SELECT id FROM users
                    WHERE email IN ('alice@example.edu', 'bob@example.edu', 'carol@example.edu'));
