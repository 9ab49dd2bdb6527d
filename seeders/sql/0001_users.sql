-- table: users
-- label: default users
-- Development sign-ins (see README); the hashes are bcrypt, cost 12.
INSERT INTO users (email, name, role, password_hash) VALUES
    ('admin@example.edu', 'Ada Admin',     'admin',   '$2b$12$qkDbZJluHZm3hZVzzYwcR.9SPzv9U3X73zMS2Ejfux44VASB33ERG'),
    ('staff@example.edu', 'Sam Staff',     'staff',   '$2b$12$xPG3sTsdOdyvtxtjSlOxyOgRxJRRFqAVAqVW/Y.LM5hI24NvqVL6e'),
    ('alice@example.edu', 'Alice Student', 'student', '$2b$12$Ip2bZ9Y8eobYDKGjo7CgOOXOG.D9QfvA7Z4KGZIeUEOX6csbJPB/K'),
    ('bob@example.edu',   'Bob Student',   'student', '$2b$12$vE7QqySIzpDBOllQ10T4bO9pz7.nhK1zIEXIONj5P/DTN2LXAY0Ri'),
    ('carol@example.edu', 'Carol Student', 'student', '$2b$12$Alc8NAWxDBxYG/.I9cQdnuWq5cY.39RgpWfhFaHqMeqkb/Np7qCkC');
