-- Taking and giving up a place, each in one statement that holds the event's row lock.
--
-- A registration is decided under the event row lock (seat or waitlist, window open,
-- already registered?). Done from the client, the lock stays held across network round
-- trips; done here, it is held for the statement alone. The registration module calls
-- these functions (registration/repository.py) and turns their outcome into messages.
-- Every time recorded is clock_timestamp(), read after the lock was granted, so times
-- follow the order the lock decided. The counters move by trigger (0008).

-- The first `seats` people in line get seats, in order; returns who, in that order.
CREATE FUNCTION eventreg_promote_head(p_event bigint, p_seats integer, p_actor bigint, p_reason text)
RETURNS TABLE (user_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    place record;
    given integer := 0;
BEGIN
    IF p_seats <= 0 THEN
        RETURN;
    END IF;
    -- Walk the line from its head through the partial index registrations_waitlist_order,
    -- stopping when the seats are given: the cost does not grow with the length of the line.
    FOR place IN
        SELECT r.id, r.user_id FROM registrations r
         WHERE r.event_id = p_event AND r.status = 'waitlisted'
         ORDER BY r.waitlist_rank, r.id
    LOOP
        UPDATE registrations
           SET status = 'registered', registered_at = clock_timestamp(), waitlist_rank = NULL,
               updated_at = clock_timestamp()
         WHERE id = place.id;
        INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id, reason)
        VALUES (clock_timestamp(), 'promoted', p_actor, p_event, place.user_id, p_reason);
        user_id := place.user_id;
        RETURN NEXT;
        given := given + 1;
        EXIT WHEN given >= p_seats;
    END LOOP;
END
$$;

-- A seat, or the next place in line when the event is full. The outcome is
-- 'registered', 'waitlisted' (with the position), 'already:<status>', or a refusal:
-- 'missing', 'status:<status>', 'started', 'not-open', 'closed'. The event's title and
-- registration window come back too, to word the answer.
CREATE FUNCTION eventreg_take_place(p_ref text, p_user bigint, p_staff boolean)
RETURNS TABLE (outcome text, place integer, slug text, title text, opens_at timestamptz, closes_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    e events%ROWTYPE;
    at timestamptz;
    held text;
    verdict text;
    position integer;
BEGIN
    -- The event a reference names (an id, all digits, or a slug), locked: changes to one
    -- event's seats and places happen one at a time. A draft exists only for staff.
    IF p_ref ~ '^[0-9]{1,18}$' THEN
        SELECT * INTO e FROM events ev WHERE ev.id = p_ref::bigint FOR UPDATE;
    ELSE
        SELECT * INTO e FROM events ev WHERE ev.slug = p_ref FOR UPDATE;
    END IF;
    IF e.id IS NULL OR (e.status = 'draft' AND NOT p_staff) THEN
        RETURN QUERY SELECT 'missing', NULL::integer, NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    at := clock_timestamp();  -- after the lock was granted
    SELECT r.status INTO held FROM registrations r
     WHERE r.event_id = e.id AND r.user_id = p_user AND r.status IN ('registered', 'waitlisted');
    IF e.status <> 'published' THEN
        verdict := 'status:' || e.status;
    ELSIF e.starts_at <= at THEN
        verdict := 'started';
    ELSIF e.registration_opens_at IS NOT NULL AND at < e.registration_opens_at THEN
        verdict := 'not-open';
    ELSIF e.registration_closes_at IS NOT NULL AND at >= e.registration_closes_at THEN
        verdict := 'closed';
    ELSIF held IS NOT NULL THEN
        verdict := 'already:' || held;
    ELSIF e.registered_count < e.capacity THEN
        -- registrations_one_live_per_user and the capacity CHECK back this up
        INSERT INTO registrations (event_id, user_id, status, created_at, registered_at)
        VALUES (e.id, p_user, 'registered', at, at);
        INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id)
        VALUES (at, 'registered', p_user, e.id, p_user);
        verdict := 'registered';
    ELSE
        INSERT INTO registrations (event_id, user_id, status, created_at, waitlist_rank)
        VALUES (e.id, p_user, 'waitlisted', at, nextval('waitlist_rank_seq'));
        INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id)
        VALUES (at, 'waitlisted', p_user, e.id, p_user);
        verdict := 'waitlisted';
        -- the newcomer's rank is the sequence's newest, so it is last: its position is the length
        position := e.waitlist_length + 1;
    END IF;
    RETURN QUERY SELECT verdict, position, e.slug, e.title, e.registration_opens_at, e.registration_closes_at;
END
$$;

-- Give up a person's seat or place (`p_only` 'waitlisted': a place only); a freed seat
-- goes to the head of the line. The outcome is 'missing' (no such event), 'none'
-- (nothing to give up) or what was given up, 'registered' or 'waitlisted' (with the
-- place's position then); `promoted` lists, in order, who got a seat.
CREATE FUNCTION eventreg_give_up_place(
    p_ref text, p_staff boolean, p_user bigint, p_actor bigint, p_action text, p_reason text, p_only text)
RETURNS TABLE (outcome text, place integer, promoted bigint[], slug text, title text)
LANGUAGE plpgsql AS $$
DECLARE
    e events%ROWTYPE;
    held registrations%ROWTYPE;
    ahead integer;
    seats integer;
    lucky bigint[] := ARRAY[]::bigint[];
BEGIN
    -- The event a reference names (an id, all digits, or a slug), locked: changes to one
    -- event's seats and places happen one at a time. A draft exists only for staff.
    IF p_ref ~ '^[0-9]{1,18}$' THEN
        SELECT * INTO e FROM events ev WHERE ev.id = p_ref::bigint FOR UPDATE;
    ELSE
        SELECT * INTO e FROM events ev WHERE ev.slug = p_ref FOR UPDATE;
    END IF;
    IF e.id IS NULL OR (e.status = 'draft' AND NOT p_staff) THEN
        RETURN QUERY SELECT 'missing', NULL::integer, lucky, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO held FROM registrations r
     WHERE r.event_id = e.id AND r.user_id = p_user AND r.status IN ('registered', 'waitlisted')
       AND (p_only IS NULL OR r.status = p_only);
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'none', NULL::integer, lucky, e.slug, e.title;
        RETURN;
    END IF;
    IF held.status = 'waitlisted' THEN
        SELECT count(*) INTO ahead FROM registrations r
         WHERE r.event_id = e.id AND r.status = 'waitlisted'
           AND (r.waitlist_rank, r.id) <= (held.waitlist_rank, held.id);
    END IF;
    UPDATE registrations
       SET status = 'cancelled', cancelled_at = clock_timestamp(), waitlist_rank = NULL, checked_in_at = NULL,
           updated_at = clock_timestamp()
     WHERE id = held.id;
    INSERT INTO audit_log (at, action, actor_id, event_id, subject_user_id, reason, details)
    VALUES (clock_timestamp(), p_action, p_actor, e.id, p_user, p_reason, jsonb_build_object('was', held.status));
    IF held.status = 'registered' AND e.status <> 'cancelled' THEN
        SELECT capacity - registered_count INTO seats FROM events WHERE id = e.id;
        SELECT coalesce(array_agg(h.user_id ORDER BY h.n), lucky) INTO lucky
          FROM eventreg_promote_head(e.id, seats, p_actor, 'seat freed by ' || p_action)
               WITH ORDINALITY AS h (user_id, n);
    END IF;
    RETURN QUERY SELECT held.status, ahead, lucky, e.slug, e.title;
END
$$;
