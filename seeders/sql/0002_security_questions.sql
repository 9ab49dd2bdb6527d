-- table: security_questions
-- label: security answers
-- Every student answers "blue" and "rex" (development only).
INSERT INTO security_questions (user_id, question, answer_hash)
SELECT u.id, q.question, q.answer_hash
  FROM (VALUES
        ('alice@example.edu', 'What is your favourite colour?', '$2b$12$cxIrJ3RvXCVy2Gu0uzaCjez.q6I4v.kD0HNTj7A4CkZEgTv.wgmHK'),
        ('alice@example.edu', 'What was your first pet''s name?', '$2b$12$0evPOo9VtUpoRpqTXIJBouhE.iRKvAMrTzhe.lluOCbw1mGjUYk8.'),
        ('bob@example.edu',   'What is your favourite colour?', '$2b$12$8ZHJVcQH3I9wFah/ZD/W/.l/M/LOwIjVP4lNNObxHfoSJOnTjNxqG'),
        ('bob@example.edu',   'What was your first pet''s name?', '$2b$12$pLCafW.rq4WqnwYCvusouuP8HitjZ30qjrDE/vyZns8h4vlKfZBE2'),
        ('carol@example.edu', 'What is your favourite colour?', '$2b$12$sKrQb2NckT.tF0pGfwmcHeD00juMHHtGDW3BJHk221Z2vQZynmwb2'),
        ('carol@example.edu', 'What was your first pet''s name?', '$2b$12$2b5QLzFdqEVhEwue3XfeYeL1iI2/CppXXhITp0JBNiPeiTf//KSLO')
       ) AS q (email, question, answer_hash)
  JOIN users u ON lower(u.email) = q.email;
