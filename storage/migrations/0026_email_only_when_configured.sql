-- Queue email jobs only where email is configured: without an SMTP relay they
-- could never be sent, and queuing them would be work for nothing on every
-- booking change. `notify`, `booking_create` and `booking_apply` take a
-- p_email flag (the caller's "email is configured"); bodies otherwise unchanged.

DROP FUNCTION booking_create(uuid, uuid, uuid, uuid, uuid, text, text, timestamptz, timestamptz, timestamptz,
    timestamptz, timestamptz, timestamptz, integer, bigint, text, integer, bytea, uuid, text, text, bytea,
    timestamptz, uuid, jsonb, jsonb, jsonb, timestamptz);
DROP FUNCTION booking_apply(uuid, text, text, text, uuid, text, boolean, bytea, uuid, jsonb, jsonb, jsonb, timestamptz);
DROP FUNCTION notify(jsonb, timestamptz);

CREATE FUNCTION notify(p_notices jsonb, p_now timestamptz, p_email boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb;
BEGIN
    IF p_notices IS NULL OR jsonb_array_length(p_notices) = 0 THEN
        RETURN '[]'::jsonb;
    END IF;
    WITH inserted AS (
        INSERT INTO notifications (id, user_id, kind, category, booking_id, data, dedupe_key)
        SELECT n.id, n.user_id, n.kind, n.category, n.booking_id, n.data, n.dedupe_key
        FROM jsonb_to_recordset(p_notices)
             AS n (id uuid, user_id uuid, kind text, category text, booking_id uuid, data jsonb, dedupe_key text)
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING notifications.*
    ), mailed AS (
        INSERT INTO jobs (kind, payload, dedupe_key, run_at)
        SELECT 'email.send', jsonb_build_object('notification_id', i.id), 'email:' || i.id, p_now
        FROM inserted i LEFT JOIN notification_preferences p ON p.user_id = i.user_id
        WHERE p_email AND CASE i.category WHEN 'reminder' THEN coalesce(p.email_reminders, true)
                                          ELSE coalesce(p.email_updates, true) END
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', i.id, 'user_id', i.user_id, 'kind', i.kind, 'category', i.category,
               'booking_id', i.booking_id, 'data', i.data, 'created_at', i.created_at)), '[]'::jsonb)
    INTO v_out FROM inserted i;
    RETURN v_out;
END
$$;

CREATE FUNCTION booking_create(
    p_id uuid, p_practitioner_id uuid, p_client_id uuid, p_offering_id uuid, p_conversation_id uuid,
    p_status text, p_mode text, p_start timestamptz, p_end timestamptz,
    p_blocked_from timestamptz, p_blocked_to timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_max_per_day integer,
    p_price_minor bigint, p_currency text, p_late_cancel_min integer, p_note_sealed bytea,
    p_requested_by uuid, p_actor_role text, p_idempotency_key text, p_request_hash bytea,
    p_expires_at timestamptz, p_replaces uuid,
    p_body jsonb, p_jobs jsonb, p_notices jsonb, p_now timestamptz, p_email boolean,
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
    notices := notify(p_notices, p_now, p_email);
    existing_id := p_id;
    outcome := 'created';
END
$$;

CREATE FUNCTION booking_apply(
    p_id uuid, p_kind text, p_from text, p_to text, p_actor_id uuid, p_actor_role text,
    p_cancelled_late boolean, p_reason_sealed bytea, p_rescheduled_to uuid,
    p_body jsonb, p_jobs jsonb, p_notices jsonb, p_now timestamptz, p_email boolean,
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
    notices := notify(p_notices, p_now, p_email);
END
$$;
