-- Accounts made from one client address of the server are counted too (path 'signup',
-- subject: the address), so that nobody can keep the server hashing passwords for
-- sign-ups by the thousand; see auth/service.py sign_up.
ALTER TABLE auth_throttle DROP CONSTRAINT auth_throttle_path_check;
ALTER TABLE auth_throttle ADD CONSTRAINT auth_throttle_path_check
    CHECK (path IN ('login', 'questions', 'code', 'client', 'signup'));
