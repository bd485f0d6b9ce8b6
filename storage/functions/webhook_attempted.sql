-- webhook_attempted: record one attempt at a delivery and, if it settles it
-- (p_state 'delivered', 'failed' or 'skipped'; NULL leaves it pending), mark it
-- and queue the job of the next pending delivery of the same booking to the
-- same subscription, in one round trip.
--
-- The booking's row lock is taken first, in its own statement: every change
-- of the booking holds it while it writes deliveries (webhooks_enqueue), so
-- either that change sees this one still pending (and leaves its delivery
-- waiting), or this function, taking its snapshot after the lock, sees that
-- delivery and queues it. Either way no delivery is left without a job.

CREATE OR REPLACE FUNCTION webhook_attempted(
    p_delivery uuid, p_state text, p_status integer, p_latency_ms integer, p_error text, p_excerpt text,
    p_now timestamptz, p_record boolean
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_sub uuid;
    v_booking uuid;
    v_attempt integer;
BEGIN
    SELECT d.subscription_id, d.booking_id INTO v_sub, v_booking FROM webhook_deliveries d WHERE d.id = p_delivery;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_booking IS NOT NULL AND p_state IS NOT NULL THEN
        PERFORM 1 FROM bookings b WHERE b.id = v_booking FOR UPDATE;
    END IF;
    IF p_record THEN
        UPDATE webhook_deliveries d SET attempts = d.attempts + 1 WHERE d.id = p_delivery RETURNING d.attempts INTO v_attempt;
        INSERT INTO webhook_attempts (delivery_id, attempt, status, latency_ms, error, excerpt)
        VALUES (p_delivery, v_attempt, p_status, p_latency_ms, p_error, p_excerpt);
    END IF;
    IF p_state IS NOT NULL THEN
        UPDATE webhook_deliveries d SET state = p_state, finished_at = now() WHERE d.id = p_delivery AND d.state = 'pending';
        IF v_booking IS NOT NULL THEN
            INSERT INTO jobs (kind, payload, dedupe_key, run_at)
            SELECT 'webhook.deliver', jsonb_build_object('delivery_id', d.id), 'webhook:' || d.id, p_now
            FROM webhook_deliveries d
            WHERE d.subscription_id = v_sub AND d.booking_id = v_booking AND d.state = 'pending'
            ORDER BY d.booking_seq LIMIT 1
            ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING;
        END IF;
    END IF;
    RETURN v_attempt;
END
$$;
