-- conversation_create_for_booking: the one place that creates booking
-- conversations (booking_create calls it, so a booking is one statement).
-- Creates conversation p_id of booking p_booking_id with its (distinct)
-- members. A booking has one conversation: a second for the same booking
-- violates conversations.booking_id's unique key.

CREATE OR REPLACE FUNCTION conversation_create_for_booking(p_id uuid, p_booking_id uuid, p_members uuid[], p_created_by uuid)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversations (id, kind, booking_id, created_by) VALUES (p_id, 'booking', p_booking_id, p_created_by);
    INSERT INTO conversation_members (conversation_id, user_id) SELECT DISTINCT p_id, m FROM unnest(p_members) AS m;
END
$$;
