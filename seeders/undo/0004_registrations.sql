DELETE FROM registrations
 WHERE event_id IN (SELECT id FROM events
                     WHERE slug IN ('welcome-social', 'python-workshop', 'spring-hackathon'))
   AND user_id IN (SELECT id FROM users
                    WHERE email IN ('alice@example.edu', 'bob@example.edu', 'carol@example.edu'));
UPDATE events e
   SET registered_count = (SELECT count(*) FROM registrations r
                            WHERE r.event_id = e.id AND r.status = 'registered')
 WHERE e.slug IN ('welcome-social', 'python-workshop', 'spring-hackathon');
