DELETE FROM events WHERE slug IN ('welcome-social', 'python-workshop', 'spring-hackathon');
