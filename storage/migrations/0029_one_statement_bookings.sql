-- Booking creation in one statement, with less work per booking.
-- The functions this describes (booking_create, conversation_create_for_booking,
-- booking_append_event, notify, enqueue_jobs) live in storage/functions/.
--
-- 1. One round trip. A booking's conversation used to be created by Python
--    (storage/conversations.py) in an explicit transaction around
--    booking_create: six statements, and the practitioner lock held until the
--    client's COMMIT arrived. The conversation insert is now a SQL function,
--    conversation_create_for_booking, the single place that creates booking
--    conversations, and booking_create calls it, so a booking is one statement
--    in autocommit:
--    its booking, conversation and members, first event, feed entries, job and
--    notifications commit together or not at all, as before.
--
-- 2. One job per booking. The reminders (24 h, 15 min) and the finish were a
--    row each; now one `booking.timeline` job walks the steps of its booking
--    (payload `steps`, each {"do", "at"}): it runs the first, then queues
--    itself again for the next (storage/jobs.py advance). Delivery stays
--    at-least-once per step and every step is idempotent (scheduler/handlers.py).
--    A request's expiry is a timeline of one step; confirming it queues the
--    confirmed timeline. Queued jobs of the old kinds are folded into
--    timelines below.
--
-- 3. Fewer index entries. Unique keys that are NULL for most rows get partial
--    indexes (a btree indexes NULLs too): jobs.dedupe_key (timeline jobs need
--    none: each is queued once, by the statement that creates or confirms its
--    booking, under the booking's idempotency key or row lock),
--    notifications.dedupe_key (only reminders carry one) and
--    conversations.direct_key (booking conversations have none).
--    bookings_holding (practitioner, start) for the statuses that hold time
--    duplicated bookings_practitioner (practitioner, start) for all statuses;
--    the overlap, class and daily checks now use the latter and filter the
--    few cancelled and declined rows. With no index on status, a status
--    change no longer touches every index of the row (HOT updates).
--
-- 4. Fewer foreign-key checks. Each check is a lookup that also locks the
--    parent row (FOR KEY SHARE), and the users row of a busy practitioner is
--    locked by every booking made with them. Dropped where the one writer
--    guarantees the reference in the same statement:
--    - booking_events.booking_id, booking_feed.booking_id: written only by
--      booking_create (which inserts the booking) and booking_apply (which
--      updates the locked booking), in the same statement;
--    - booking_feed.user_id: the booking's two participants, whose ids the
--      bookings row references (checked there);
--    - bookings.conversation_id: created by the same statement, or the
--      replaced booking's own (a reschedule, under that booking's row lock);
--    - notifications.booking_id, notifications.user_id: every notification
--      is about a booking and goes to one of its two participants; it is
--      written by booking_create or booking_apply in the statement that
--      writes that booking, or by a reminder for a booking just read (and
--      bookings are never deleted).
--    The references that are not written in the same statement stay checked:
--    a booking's practitioner, client and offering, and conversation members
--    (which the chat also writes).
--    Bookings are never deleted; a user's deletion removes their bookings by
--    cascade, and would now have to remove their events, feed entries and
--    notifications itself (no such code exists yet).

-- Partial unique keys ------------------------------------------------------------

ALTER TABLE jobs DROP CONSTRAINT jobs_dedupe_key_key;
CREATE UNIQUE INDEX jobs_dedupe_key ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL;
ALTER TABLE notifications DROP CONSTRAINT notifications_dedupe_key_key;
CREATE UNIQUE INDEX notifications_dedupe_key ON notifications (dedupe_key) WHERE dedupe_key IS NOT NULL;
ALTER TABLE conversations DROP CONSTRAINT conversations_direct_key_key;
CREATE UNIQUE INDEX conversations_direct_key ON conversations (direct_key) WHERE direct_key IS NOT NULL;

DROP INDEX bookings_holding;

ALTER TABLE booking_events DROP CONSTRAINT booking_events_booking_id_fkey;
ALTER TABLE booking_feed DROP CONSTRAINT booking_feed_booking_id_fkey;
ALTER TABLE booking_feed DROP CONSTRAINT booking_feed_user_id_fkey;
ALTER TABLE bookings DROP CONSTRAINT bookings_conversation_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_booking_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_user_id_fkey;

-- Queued jobs of the old kinds, folded into one timeline per booking and start ------

WITH old AS (
    DELETE FROM jobs
    WHERE state = 'queued' AND kind IN ('booking.reminder', 'booking.expire', 'booking.finish')
    RETURNING kind, payload, run_at
)
INSERT INTO jobs (kind, payload, run_at)
SELECT 'booking.timeline',
       jsonb_build_object(
           'booking_id', o.payload ->> 'booking_id', 'start_at', o.payload -> 'start_at',
           'steps', jsonb_agg(jsonb_build_object(
               'do', CASE o.kind WHEN 'booking.reminder' THEN 'reminder_' || (o.payload ->> 'reminder')
                                 WHEN 'booking.expire' THEN 'expire' ELSE 'finish' END,
               'at', o.run_at) ORDER BY o.run_at)),
       min(o.run_at)
FROM old o
GROUP BY o.payload ->> 'booking_id', o.payload -> 'start_at';
