-- table: events
-- also: event_organisers
-- label: sample events
INSERT INTO events (slug, title, description, location, capacity, starts_at, ends_at, status, created_by)
SELECT e.slug, e.title, e.description, e.location, e.capacity,
       date_trunc('hour', now()) + e.starts_in, date_trunc('hour', now()) + e.starts_in + e.lasts,
       'published', (SELECT id FROM users WHERE email = 'staff@example.edu')
  FROM (VALUES
        ('welcome-social', 'Welcome Week Social', 'Meet your classmates over snacks.', 'Student Union, Hall A',
         50, interval '7 days', interval '3 hours'),
        ('python-workshop', 'Python Workshop', 'Hands-on introduction; bring a laptop.', 'Lab 2.14',
         2, interval '10 days', interval '2 hours'),
        ('spring-hackathon', 'Spring Hackathon', 'Build something in 24 hours.', 'Engineering Building',
         3, interval '21 days', interval '24 hours')
       ) AS e (slug, title, description, location, capacity, starts_in, lasts);

-- Sam Staff organises them (see event_organisers: organisers manage an event).
INSERT INTO event_organisers (event_id, user_id, added_by)
SELECT e.id, u.id, u.id
  FROM events e JOIN users u ON u.email = 'staff@example.edu'
 WHERE e.slug IN ('welcome-social', 'python-workshop', 'spring-hackathon');
