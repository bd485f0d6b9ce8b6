-- booking_append_event: append event `p_seq` of a booking and advance each
-- participant's feed counter (upserted in uuid order, so concurrent writers
-- never deadlock on them), in two statements instead of a loop.
-- Writes the webhook deliveries of the change in the same transaction.
-- Returns {user_id: feed_seq, ...}.

CREATE OR REPLACE FUNCTION booking_append_event(
    p_booking_id uuid, p_seq bigint, p_kind text, p_actor_id uuid, p_actor_role text,
    p_from text, p_to text, p_body jsonb, p_participants uuid[]
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_feed jsonb;
BEGIN
    INSERT INTO booking_events (booking_id, seq, kind, actor_id, actor_role, from_status, to_status, body)
    VALUES (p_booking_id, p_seq, p_kind, p_actor_id, p_actor_role, p_from, p_to,
            p_body || jsonb_build_object('booking_seq', p_seq));
    WITH counted AS (
        INSERT INTO booking_feed_counters AS c (user_id, last_seq)
        SELECT DISTINCT u, 1 FROM unnest(p_participants) AS u ORDER BY u
        ON CONFLICT (user_id) DO UPDATE SET last_seq = c.last_seq + 1
        RETURNING c.user_id, c.last_seq
    ), fed AS (
        INSERT INTO booking_feed (user_id, seq, booking_id, booking_seq)
        SELECT k.user_id, k.last_seq, p_booking_id, p_seq FROM counted k
    )
    SELECT jsonb_object_agg(k.user_id::text, k.last_seq) INTO v_feed FROM counted k;
    PERFORM webhooks_enqueue('booking.' || p_kind, p_participants, p_booking_id, p_seq,
                             p_body || jsonb_build_object('booking_seq', p_seq), 'bookings:read');
    RETURN v_feed;
END
$$;
