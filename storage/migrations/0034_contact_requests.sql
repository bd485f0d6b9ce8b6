-- Contact requests: a direct conversation is a request until the other person accepts it.
--
-- Anyone may register as a practitioner, so opening a direct conversation
-- must not by itself make two people contacts (presence, last_seen, device
-- keys, messages). `accepted_at` is NULL while a direct conversation is a
-- request from `created_by`; the other member accepts it
-- (POST /conversations/{id}/accept), or a booking between the two does
-- (conversation_create_for_booking). Booking conversations are accepted from
-- the start (the column's default). Until accepted, no one can send, edit,
-- read or join in it, and it makes no one a contact (storage/conversations.py
-- `contacts`, `shared_with`).
--
-- Existing direct conversations stay accepted where the other member has
-- shown consent: a booking between the two, or a message of their own in it.
-- The others become requests.

ALTER TABLE conversations ADD COLUMN accepted_at timestamptz DEFAULT now();
UPDATE conversations SET accepted_at = created_at;
UPDATE conversations c SET accepted_at = NULL
WHERE c.kind = 'direct'
  AND NOT EXISTS (
      SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.sender_id IS DISTINCT FROM c.created_by)
  AND NOT EXISTS (
      SELECT 1 FROM bookings b
      JOIN conversation_members x ON x.conversation_id = c.id AND x.user_id = b.client_id
      JOIN conversation_members y ON y.conversation_id = c.id AND y.user_id = b.practitioner_id);
