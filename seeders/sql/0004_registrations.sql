-- table: registrations
-- label: registrations and waitlist places
-- python-workshop ends up full with Carol on its waitlist; spring-hackathon is nearly full.
-- The seat and waitlist counters on events follow by themselves (the trigger of 0008).
INSERT INTO registrations (event_id, user_id, status, registered_at, waitlist_rank)
SELECT ev.id, u.id, r.status,
       CASE WHEN r.status = 'registered' THEN now() END,
       CASE WHEN r.status = 'waitlisted' THEN nextval('waitlist_rank_seq') END
  FROM (VALUES
        ('welcome-social',   'alice@example.edu', 'registered', 1),
        ('welcome-social',   'bob@example.edu',   'registered', 2),
        ('python-workshop',  'alice@example.edu', 'registered', 3),
        ('python-workshop',  'bob@example.edu',   'registered', 4),
        ('python-workshop',  'carol@example.edu', 'waitlisted', 5),
        ('spring-hackathon', 'alice@example.edu', 'registered', 6),
        ('spring-hackathon', 'carol@example.edu', 'registered', 7)
       ) AS r (slug, email, status, ord)
  JOIN events ev ON ev.slug = r.slug
  JOIN users u ON u.email = r.email
 ORDER BY r.ord;

