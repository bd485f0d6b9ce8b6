-- conversation_create_for_booking: the one place that creates booking
-- conversations (booking_create calls it, so a booking is one statement).
-- Creates conversation p_id of booking p_booking_id with its (distinct)
-- members. A booking has one conversation: a second for the same booking
-- violates conversations.booking_id's unique key.
-- A booking is a relationship: a pending contact request between its two
-- members (their direct conversations, keyed "<lower id>:<higher id>:<mode>")
-- is accepted by it (migration 0034).

CREATE OR REPLACE FUNCTION conversation_create_for_booking(p_id uuid, p_booking_id uuid, p_members uuid[], p_created_by uuid)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_pair text;
BEGIN
    INSERT INTO conversations (id, kind, booking_id, created_by) VALUES (p_id, 'booking', p_booking_id, p_created_by);
    INSERT INTO conversation_members (conversation_id, user_id) SELECT DISTINCT p_id, m FROM unnest(p_members) AS m;
    IF cardinality(p_members) = 2 AND p_members[1] <> p_members[2] THEN
        v_pair := least(p_members[1], p_members[2])::text || ':' || greatest(p_members[1], p_members[2])::text;
        UPDATE conversations SET accepted_at = now()
        WHERE direct_key IN (v_pair || ':plain', v_pair || ':e2ee') AND accepted_at IS NULL;
    END IF;
END
$$;
