-- table: security_questions
-- label: security answers
-- Every student answers "blue" then "rex" (development only), to catalogue
-- questions 1 (favourite colour) and 2 (first pet).
INSERT INTO security_questions (user_id, question_key, answer_hash)
SELECT u.id, q.question_key, q.answer_hash
  FROM (VALUES
        ('alice@example.edu', 1, '$2b$12$cxIrJ3RvXCVy2Gu0uzaCjez.q6I4v.kD0HNTj7A4CkZEgTv.wgmHK'),
        ('alice@example.edu', 2, '$2b$12$0evPOo9VtUpoRpqTXIJBouhE.iRKvAMrTzhe.lluOCbw1mGjUYk8.'),
        ('bob@example.edu',   1, '$2b$12$8ZHJVcQH3I9wFah/ZD/W/.l/M/LOwIjVP4lNNObxHfoSJOnTjNxqG'),
        ('bob@example.edu',   2, '$2b$12$pLCafW.rq4WqnwYCvusouuP8HitjZ30qjrDE/vyZns8h4vlKfZBE2'),
        ('carol@example.edu', 1, '$2b$12$sKrQb2NckT.tF0pGfwmcHeD00juMHHtGDW3BJHk221Z2vQZynmwb2'),
        ('carol@example.edu', 2, '$2b$12$2b5QLzFdqEVhEwue3XfeYeL1iI2/CppXXhITp0JBNiPeiTf//KSLO')
       ) AS q (email, question_key, answer_hash)
  JOIN users u ON lower(u.email) = q.email;
