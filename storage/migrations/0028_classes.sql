-- Classes: an offering with a capacity above one is taught to several clients
-- at once. Bookings of the same offering at the same start share the
-- practitioner's time, up to the capacity, and nothing else shares it: a
-- different offering, or another start of the same one, that overlaps (with
-- buffers) is still refused. A capacity of 1 is a one-to-one offering, as
-- before. Each booking stays its own: its own status, history, jobs,
-- notifications and two-person conversation.
--
-- booking_create counts the class under the same practitioner lock as the
-- overlap check, so concurrent requests from any number of processes never
-- fill a class beyond its capacity. The daily limit counts sessions: a class
-- is one, so joining an existing class is never refused for the day.

ALTER TABLE offerings ADD COLUMN capacity integer NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 100);

DROP FUNCTION booking_create(uuid, uuid, uuid, uuid, uuid, text, text, timestamptz, timestamptz, timestamptz,
    timestamptz, timestamptz, timestamptz, integer, bigint, text, integer, bytea, uuid, text, text, bytea,
    timestamptz, uuid, jsonb, jsonb, jsonb, timestamptz, boolean);

-- Outcomes as before (created, replayed, key_reused, taken, day_full), plus
--   class_full  the offering's class at that start has p_capacity bookings holding time
-- (for a capacity of 1 a booked start is 'taken', as it always was).
CREATE FUNCTION booking_create(
    p_id uuid, p_practitioner_id uuid, p_client_id uuid, p_offering_id uuid, p_conversation_id uuid,
    p_status text, p_mode text, p_start timestamptz, p_end timestamptz,
    p_blocked_from timestamptz, p_blocked_to timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_max_per_day integer, p_capacity integer,
    p_price_minor bigint, p_currency text, p_late_cancel_min integer, p_note_sealed bytea,
    p_requested_by uuid, p_actor_role text, p_idempotency_key text, p_request_hash bytea,
    p_expires_at timestamptz, p_replaces uuid,
    p_body jsonb, p_jobs jsonb, p_notices jsonb, p_now timestamptz, p_email boolean,
    OUT outcome text, OUT existing_id uuid, OUT feed jsonb, OUT notices jsonb, OUT created_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash bytea;
    v_classmates integer;
BEGIN
    PERFORM pg_advisory_xact_lock(1263206432, hashtext(p_practitioner_id::text));

    SELECT b.id, b.request_hash INTO existing_id, v_hash
    FROM bookings b WHERE b.requested_by = p_requested_by AND b.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        outcome := CASE WHEN v_hash = p_request_hash THEN 'replayed' ELSE 'key_reused' END;
        RETURN;
    END IF;

    IF EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.practitioner_id = p_practitioner_id
          AND b.status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show')
          AND b.start_at > p_blocked_from - interval '1 day' AND b.start_at < p_blocked_to + interval '1 day'
          AND b.blocked_from < p_blocked_to AND b.blocked_to > p_blocked_from
          AND NOT (b.offering_id = p_offering_id AND b.start_at = p_start)
          AND b.id IS DISTINCT FROM p_replaces
    ) THEN
        outcome := 'taken';
        RETURN;
    END IF;

    SELECT count(*) INTO v_classmates FROM bookings b
    WHERE b.practitioner_id = p_practitioner_id AND b.start_at = p_start AND b.offering_id = p_offering_id
      AND b.status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show')
      AND b.id IS DISTINCT FROM p_replaces;
    IF v_classmates >= p_capacity THEN
        outcome := CASE WHEN p_capacity = 1 THEN 'taken' ELSE 'class_full' END;
        RETURN;
    END IF;

    IF p_max_per_day IS NOT NULL AND v_classmates = 0 AND (
        SELECT count(DISTINCT (b.offering_id, b.start_at)) FROM bookings b
        WHERE b.practitioner_id = p_practitioner_id
          AND b.status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show')
          AND b.start_at >= p_day_start AND b.start_at < p_day_end
          AND b.id IS DISTINCT FROM p_replaces
    ) >= p_max_per_day THEN
        outcome := 'day_full';
        RETURN;
    END IF;

    INSERT INTO bookings (
        id, practitioner_id, client_id, offering_id, conversation_id, status, mode, start_at, end_at,
        blocked_from, blocked_to, price_minor, currency, late_cancel_min, note_sealed, seq,
        requested_by, idempotency_key, request_hash, expires_at, rescheduled_from
    ) VALUES (
        p_id, p_practitioner_id, p_client_id, p_offering_id, p_conversation_id, p_status, p_mode, p_start, p_end,
        p_blocked_from, p_blocked_to, p_price_minor, p_currency, p_late_cancel_min, p_note_sealed, 1,
        p_requested_by, p_idempotency_key, p_request_hash, p_expires_at, p_replaces
    ) RETURNING bookings.created_at INTO created_at;
    feed := booking_append_event(p_id, 1, 'created', p_requested_by, p_actor_role, NULL, p_status, p_body,
                                 ARRAY[p_client_id, p_practitioner_id]);
    PERFORM enqueue_jobs(p_jobs);
    notices := notify(p_notices, p_now, p_email);
    existing_id := p_id;
    outcome := 'created';
END
$$;
