-- Seat and waitlist counters kept by the database itself, and times that follow lock order.
--
-- events.registered_count and events.waitlist_length are maintained by triggers on
-- registrations, in the statement that changes a row's status, so no code path can
-- forget them and CHECK (registered_count <= capacity) refuses an overbooking in the
-- very statement that would cause it. Joining a waitlist then learns its position
-- from waitlist_length without counting the list (`db doctor` checks both counters).
ALTER TABLE events
    ADD COLUMN waitlist_length integer NOT NULL DEFAULT 0
        CONSTRAINT events_waitlist_length_not_negative CHECK (waitlist_length >= 0);

UPDATE events e
   SET registered_count = (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.status = 'registered'),
       waitlist_length  = (SELECT count(*) FROM registrations r WHERE r.event_id = e.id AND r.status = 'waitlisted');

-- Statement-level, over the rows the statement changed (transition tables): a bulk
-- change (an import, a seed, an event's cancellation) moves each event's counters once,
-- instead of writing the event row once per registration row. Each branch reads the
-- transition tables its trigger has (an INSERT has no old rows, a DELETE no new ones).
CREATE FUNCTION eventreg_count_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE events e
           SET registered_count = e.registered_count + d.seats, waitlist_length = e.waitlist_length + d.waiting
          FROM (SELECT event_id, count(*) FILTER (WHERE status = 'registered') AS seats,
                       count(*) FILTER (WHERE status = 'waitlisted') AS waiting
                  FROM new_rows GROUP BY event_id) d
         WHERE e.id = d.event_id AND (d.seats <> 0 OR d.waiting <> 0);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE events e
           SET registered_count = e.registered_count - d.seats, waitlist_length = e.waitlist_length - d.waiting
          FROM (SELECT event_id, count(*) FILTER (WHERE status = 'registered') AS seats,
                       count(*) FILTER (WHERE status = 'waitlisted') AS waiting
                  FROM old_rows GROUP BY event_id) d
         WHERE e.id = d.event_id AND (d.seats <> 0 OR d.waiting <> 0);
    ELSE
        UPDATE events e
           SET registered_count = e.registered_count + d.seats, waitlist_length = e.waitlist_length + d.waiting
          FROM (SELECT event_id, sum(CASE status WHEN 'registered' THEN sign ELSE 0 END) AS seats,
                       sum(CASE status WHEN 'waitlisted' THEN sign ELSE 0 END) AS waiting
                  FROM (SELECT event_id, status, 1 AS sign FROM new_rows
                        UNION ALL
                        SELECT event_id, status, -1 FROM old_rows) changed
                 GROUP BY event_id) d
         WHERE e.id = d.event_id AND (d.seats <> 0 OR d.waiting <> 0);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER registrations_count_inserted AFTER INSERT ON registrations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION eventreg_count_seats();
CREATE TRIGGER registrations_count_deleted AFTER DELETE ON registrations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION eventreg_count_seats();
CREATE TRIGGER registrations_count_updated AFTER UPDATE ON registrations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION eventreg_count_seats();

-- A time that records an order (joined, registered, an audit row) is read when the
-- row is written, after the event lock that decides the order was granted, not at
-- the start of the transaction (now()), which can be before the lock wait.
ALTER TABLE registrations ALTER COLUMN created_at SET DEFAULT clock_timestamp();
ALTER TABLE audit_log ALTER COLUMN at SET DEFAULT clock_timestamp();

-- Keyset pages of events in start order.
CREATE INDEX events_starts_at_id_idx ON events (starts_at, id);
DROP INDEX events_starts_at_idx;
