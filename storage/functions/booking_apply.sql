-- booking_apply: write a status change the caller has already validated (it
-- holds the booking's row lock): updates the row, appends the event, queues
-- the jobs and the notifications (their emails only if p_email), in one
-- statement. Returns the booking's new seq, the feed seqs and the notices.
-- Updates only from p_from, the status the change was decided for.

CREATE OR REPLACE FUNCTION booking_apply(
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
