-- Booking creation in one statement, with less work per booking.
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

-- Booking conversations --------------------------------------------------------

-- Creates conversation p_id of booking p_booking_id with its (distinct)
-- members. A booking has one conversation: a second for the same booking
-- violates conversations.booking_id's unique key.
CREATE FUNCTION conversation_create_for_booking(p_id uuid, p_booking_id uuid, p_members uuid[], p_created_by uuid)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversations (id, kind, booking_id, created_by) VALUES (p_id, 'booking', p_booking_id, p_created_by);
    INSERT INTO conversation_members (conversation_id, user_id) SELECT DISTINCT p_id, m FROM unnest(p_members) AS m;
END
$$;

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

-- The functions whose ON CONFLICT names those keys -------------------------------

CREATE OR REPLACE FUNCTION enqueue_jobs(p_jobs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_jobs IS NULL OR jsonb_array_length(p_jobs) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO jobs (kind, payload, dedupe_key, run_at)
    SELECT j.kind, j.payload, j.dedupe_key, j.run_at
    FROM jsonb_to_recordset(p_jobs) AS j (kind text, payload jsonb, dedupe_key text, run_at timestamptz)
    ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING;
END
$$;

CREATE OR REPLACE FUNCTION notify(p_notices jsonb, p_now timestamptz, p_email boolean) RETURNS jsonb
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
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
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

-- The event and feed of a change, in two statements instead of a loop -------------

-- As in 0024: appends event `p_seq` of a booking and advances each
-- participant's feed counter (upserted in uuid order, so concurrent writers
-- never deadlock on them); returns {user_id: feed_seq, ...}.
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
    RETURN v_feed;
END
$$;

-- booking_create: as in 0028, plus the conversation, with its one job ----------

DROP FUNCTION booking_create(uuid, uuid, uuid, uuid, uuid, text, text, timestamptz, timestamptz, timestamptz,
    timestamptz, timestamptz, timestamptz, integer, integer, bigint, text, integer, bytea, uuid, text, text, bytea,
    timestamptz, uuid, jsonb, jsonb, jsonb, timestamptz, boolean);

-- p_conversation_id: for a new booking (p_replaces NULL) the id its new
-- conversation gets; for a reschedule, the replaced booking's conversation,
-- which the new booking keeps. p_job_*: the booking's timeline job.
-- p_notices: [{id, user_id, kind, category, booking_id, data}, ...], all
-- written by `notify` (which queues their emails), created at `created_at`.
-- Nothing is written unless the outcome is 'created'.
CREATE FUNCTION booking_create(
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
    SELECT coalesce(bool_or(NOT (b.offering_id = p_offering_id AND b.start_at = p_start)), false),
           count(*) FILTER (WHERE b.offering_id = p_offering_id AND b.start_at = p_start)
    INTO v_clash, v_classmates
    FROM bookings b
    WHERE b.practitioner_id = p_practitioner_id
      AND b.start_at > p_blocked_from - interval '1 day' AND b.start_at < p_blocked_to + interval '1 day'
      AND b.status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show')
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
          AND b.status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show')
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
