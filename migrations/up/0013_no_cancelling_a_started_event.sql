-- A registered person can no longer cancel their own seat once the event has started
-- (the outcome 'started') or once they were checked in ('checked-in'): cancelling then
-- erased their check-in and the attendance figures with it. Organisers removing someone are not limited. A promotion's reason
-- reads 'seat freed by a cancellation' (was 'seat freed by cancelled'). The rest of the
-- function is as in 0011.
CREATE OR REPLACE FUNCTION eventreg_give_up_place(
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
    -- Once the event has started, or its holder was checked in, a seat is history: its
    -- holder can no longer give it up; its organisers still can ('removed').
    IF held.status = 'registered' AND p_action = 'cancelled' THEN
        IF e.starts_at <= clock_timestamp() THEN
            RETURN QUERY SELECT 'started', NULL::integer, lucky, e.slug, e.title;
            RETURN;
        ELSIF held.checked_in_at IS NOT NULL THEN
            RETURN QUERY SELECT 'checked-in', NULL::integer, lucky, e.slug, e.title;
            RETURN;
        END IF;
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
          FROM eventreg_promote_head(e.id, seats, p_actor, CASE p_action
                   WHEN 'cancelled' THEN 'seat freed by a cancellation'
                   WHEN 'removed' THEN 'seat freed by a removal'
                   ELSE 'seat freed by ' || p_action END)
               WITH ORDINALITY AS h (user_id, n);
    END IF;
    RETURN QUERY SELECT held.status, ahead, lucky, e.slug, e.title;
END
$$;
