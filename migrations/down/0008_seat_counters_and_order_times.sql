CREATE INDEX events_starts_at_idx ON events (starts_at);
DROP INDEX events_starts_at_id_idx;
ALTER TABLE audit_log ALTER COLUMN at SET DEFAULT now();
ALTER TABLE registrations ALTER COLUMN created_at SET DEFAULT now();
DROP TRIGGER registrations_count_updated ON registrations;
DROP TRIGGER registrations_count_deleted ON registrations;
DROP TRIGGER registrations_count_inserted ON registrations;
DROP FUNCTION eventreg_count_seats();
ALTER TABLE events DROP COLUMN waitlist_length;
