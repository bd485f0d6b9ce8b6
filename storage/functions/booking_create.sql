-- booking_create: create a booking if its time is free, in one statement, so
-- the practitioner's lock is held for a single round trip.
--
-- The decisions (is this a bookable slot, may this actor book it) are made in
-- Python beforehand (scheduler/); this does what must happen under the lock
-- or atomically with the booking: the idempotency, overlap, class and daily
-- checks, then the booking, its conversation and members, its first event and
-- feed entries, its timeline job and its notifications, all committed
-- together or not at all. Outcomes:
--   created     all of that is written
--   replayed    this requester already used this idempotency key for the same request (existing_id)
--   key_reused  ... for a different request
--   taken       the session plus buffers overlaps a booking that holds time and is not in this class
--               (for a capacity of 1, a booked start too)
--   class_full  the offering's class at that start has p_capacity bookings holding time
--   day_full    the practitioner's daily limit is reached on that local day (a class counts once, so
--               joining one is never refused for the day)
-- Nothing is written unless the outcome is 'created'.
--
-- p_replaces: the booking a reschedule releases in the same transaction; it is
-- left out of the checks (the caller cancels it afterwards).
-- p_conversation_id: for a new booking (p_replaces NULL) the id its new
-- conversation gets; for a reschedule, the replaced booking's conversation,
-- which the new booking keeps. p_job_*: the booking's timeline job.
-- p_notices: as `notify` takes them (each one's data sealed with its
-- recipient's key), all written by `notify` (which queues their emails),
-- created at `created_at`. p_note_sealed: the client's note, sealed with the
-- client's key.

CREATE OR REPLACE FUNCTION booking_create(
    p_id uuid, p_practitioner_id uuid, p_client_id uuid, p_offering_id uuid, p_conversation_id uuid,
    p_status text, p_mode text, p_start timestamptz, p_end timestamptz,
    p_blocked_from timestamptz, p_blocked_to timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_max_per_day integer, p_capacity integer,
    p_price_minor bigint, p_currency text, p_late_cancel_min integer, p_note_sealed bytea,
    p_requested_by uuid, p_actor_role text, p_idempotency_key text, p_request_hash bytea,
    p_expires_at timestamptz, p_replaces uuid,
    p_body jsonb, p_job_kind text, p_job_payload jsonb, p_job_run_at timestamptz,
    p_notices jsonb, p_now timestamptz, p_email boolean,
    OUT outcome text, OUT existing_id uuid, OUT feed jsonb, OUT created_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash bytea;
    v_clash boolean;
    v_classmates integer;
BEGIN
    PERFORM pg_advisory_xact_lock(1263206432, hashtext(p_practitioner_id::text));

    SELECT b.id, b.request_hash INTO existing_id, v_hash
    FROM bookings b WHERE b.requested_by = p_requested_by AND b.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        outcome := CASE WHEN v_hash = p_request_hash THEN 'replayed' ELSE 'key_reused' END;
        RETURN;
    END IF;

    -- One pass over the practitioner's bookings around the start: any that holds overlapping time without
    -- being in this class, and how many places the class (same offering, same start) already holds.
    -- A blocked span is shorter than a day (a CHECK on bookings), which bounds the search by start_at.
    SELECT coalesce(bool_or(NOT (b.offering_id = p_offering_id AND b.start_at = p_start)), false),
           count(*) FILTER (WHERE b.offering_id = p_offering_id AND b.start_at = p_start)
    INTO v_clash, v_classmates
    FROM bookings b
    WHERE b.practitioner_id = p_practitioner_id
      AND b.start_at > p_blocked_from - interval '1 day' AND b.start_at < p_blocked_to + interval '1 day'
      AND booking_holds_time(b.status)
      AND b.blocked_from < p_blocked_to AND b.blocked_to > p_blocked_from
      AND b.id IS DISTINCT FROM p_replaces;
    IF v_clash THEN
        outcome := 'taken';
        RETURN;
    END IF;
    IF v_classmates >= p_capacity THEN
        outcome := CASE WHEN p_capacity = 1 THEN 'taken' ELSE 'class_full' END;
        RETURN;
    END IF;

    IF p_max_per_day IS NOT NULL AND v_classmates = 0 AND (
        SELECT count(DISTINCT (b.offering_id, b.start_at)) FROM bookings b
        WHERE b.practitioner_id = p_practitioner_id
          AND b.start_at >= p_day_start AND b.start_at < p_day_end
          AND booking_holds_time(b.status)
          AND b.id IS DISTINCT FROM p_replaces
    ) >= p_max_per_day THEN
        outcome := 'day_full';
        RETURN;
    END IF;

    IF p_replaces IS NULL THEN
        PERFORM conversation_create_for_booking(p_conversation_id, p_id, ARRAY[p_client_id, p_practitioner_id],
                                                p_requested_by);
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
    INSERT INTO jobs (kind, payload, run_at) VALUES (p_job_kind, p_job_payload, p_job_run_at);
    PERFORM notify(p_notices, p_now, p_email);
    existing_id := p_id;
    outcome := 'created';
END
$$;
