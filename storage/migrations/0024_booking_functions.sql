-- The booking writes, each one statement (one round trip) so the per-practitioner
-- lock is held for as short a time as possible.
--
-- The decisions (is this a bookable slot, may this actor do this) are made in
-- Python beforehand (scheduler/); these functions do what must happen under the
-- lock or atomically with the change: the overlap and daily-limit checks, the
-- idempotency check, the row writes, the event with both sequences, the jobs
-- and the notifications.

-- Appends event `p_seq` of a booking and advances each participant's feed
-- (locked in uuid order, so concurrent writers never deadlock on them).
-- Returns {user_id: feed_seq, ...}.
CREATE FUNCTION booking_append_event(
    p_booking_id uuid, p_seq bigint, p_kind text, p_actor_id uuid, p_actor_role text,
    p_from text, p_to text, p_body jsonb, p_participants uuid[]
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_user uuid;
    v_seq bigint;
    v_feed jsonb := '{}'::jsonb;
BEGIN
    INSERT INTO booking_events (booking_id, seq, kind, actor_id, actor_role, from_status, to_status, body)
    VALUES (p_booking_id, p_seq, p_kind, p_actor_id, p_actor_role, p_from, p_to,
            p_body || jsonb_build_object('booking_seq', p_seq));
    FOR v_user IN SELECT DISTINCT u FROM unnest(p_participants) AS u ORDER BY u LOOP
        INSERT INTO booking_feed_counters AS c (user_id, last_seq) VALUES (v_user, 1)
        ON CONFLICT (user_id) DO UPDATE SET last_seq = c.last_seq + 1
        RETURNING c.last_seq INTO v_seq;
        INSERT INTO booking_feed (user_id, seq, booking_id, booking_seq) VALUES (v_user, v_seq, p_booking_id, p_seq);
        v_feed := v_feed || jsonb_build_object(v_user::text, v_seq);
    END LOOP;
    RETURN v_feed;
END
$$;

-- p_jobs: [{kind, payload, dedupe_key, run_at}, ...]; a repeated dedupe_key is skipped.
CREATE FUNCTION enqueue_jobs(p_jobs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_jobs IS NULL OR jsonb_array_length(p_jobs) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO jobs (kind, payload, dedupe_key, run_at)
    SELECT j.kind, j.payload, j.dedupe_key, j.run_at
    FROM jsonb_to_recordset(p_jobs) AS j (kind text, payload jsonb, dedupe_key text, run_at timestamptz)
    ON CONFLICT (dedupe_key) DO NOTHING;
END
$$;

-- Creates a booking if its time is free. Outcomes:
--   created     the booking, its first event, jobs and notifications are written
--   replayed    this requester already used this idempotency key for the same request (existing_id)
--   key_reused  ... for a different request
--   taken       the session plus buffers overlaps a booking that holds time
--   day_full    the practitioner's daily limit is reached on that local day
-- p_replaces: the booking a reschedule releases in the same transaction; it is
-- left out of the overlap and daily checks (the caller cancels it afterwards).
CREATE FUNCTION booking_create(
    p_id uuid, p_practitioner_id uuid, p_client_id uuid, p_offering_id uuid, p_conversation_id uuid,
    p_status text, p_mode text, p_start timestamptz, p_end timestamptz,
    p_blocked_from timestamptz, p_blocked_to timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_max_per_day integer,
    p_price_minor bigint, p_currency text, p_late_cancel_min integer, p_note_sealed bytea,
    p_requested_by uuid, p_actor_role text, p_idempotency_key text, p_request_hash bytea,
    p_expires_at timestamptz, p_replaces uuid,
    p_body jsonb, p_jobs jsonb, p_notices jsonb, p_now timestamptz,
    OUT outcome text, OUT existing_id uuid, OUT feed jsonb, OUT notices jsonb, OUT created_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash bytea;
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
          AND b.id IS DISTINCT FROM p_replaces
    ) THEN
        outcome := 'taken';
        RETURN;
    END IF;

    IF p_max_per_day IS NOT NULL AND (
        SELECT count(*) FROM bookings b
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
    notices := notify(p_notices, p_now);
    existing_id := p_id;
    outcome := 'created';
END
$$;

-- Applies a status change the caller has already validated (it holds the
-- booking's row lock): updates the row, appends the event, queues jobs and
-- notifications. Returns the booking's new seq, the feed seqs and the notices.
CREATE FUNCTION booking_apply(
    p_id uuid, p_kind text, p_from text, p_to text, p_actor_id uuid, p_actor_role text,
    p_cancelled_late boolean, p_reason_sealed bytea, p_rescheduled_to uuid,
    p_body jsonb, p_jobs jsonb, p_notices jsonb, p_now timestamptz,
    OUT seq bigint, OUT feed jsonb, OUT notices jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_client uuid;
    v_practitioner uuid;
BEGIN
    UPDATE bookings b SET
        status = p_to,
        seq = b.seq + 1,
        updated_at = now(),
        cancelled_by = CASE WHEN p_to = 'cancelled' THEN p_actor_id ELSE b.cancelled_by END,
        cancelled_by_role = CASE WHEN p_to = 'cancelled' THEN p_actor_role ELSE b.cancelled_by_role END,
        cancelled_at = CASE WHEN p_to = 'cancelled' THEN p_now ELSE b.cancelled_at END,
        cancelled_late = CASE WHEN p_to = 'cancelled' THEN p_cancelled_late ELSE b.cancelled_late END,
        cancel_reason_sealed = CASE WHEN p_to = 'cancelled' THEN p_reason_sealed ELSE b.cancel_reason_sealed END,
        decline_reason_sealed = CASE WHEN p_to = 'declined' THEN p_reason_sealed ELSE b.decline_reason_sealed END,
        rescheduled_to = coalesce(p_rescheduled_to, b.rescheduled_to)
    WHERE b.id = p_id AND b.status = p_from
    RETURNING b.seq, b.client_id, b.practitioner_id INTO seq, v_client, v_practitioner;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'booking % is not %', p_id, p_from USING ERRCODE = 'serialization_failure';
    END IF;
    feed := booking_append_event(p_id, seq, p_kind, p_actor_id, p_actor_role, p_from, p_to, p_body,
                                 ARRAY[v_client, v_practitioner]);
    PERFORM enqueue_jobs(p_jobs);
    notices := notify(p_notices, p_now);
END
$$;
