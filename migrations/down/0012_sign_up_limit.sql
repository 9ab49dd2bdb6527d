DELETE FROM auth_throttle WHERE path = 'signup';
ALTER TABLE auth_throttle DROP CONSTRAINT auth_throttle_path_check;
ALTER TABLE auth_throttle ADD CONSTRAINT auth_throttle_path_check
    CHECK (path IN ('login', 'questions', 'code', 'client'));
