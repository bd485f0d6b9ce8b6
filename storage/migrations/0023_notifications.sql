-- In-app notifications (the user's inbox) and which of them also go by email.
--
-- Every notification is kept and listed; preferences choose the kinds that
-- are also emailed. `notify` inserts notifications and, in the same
-- statement, queues an email job for each one the recipient wants by email,
-- so a notification and its email are written together or not at all.
-- `dedupe_key` lets a retried job notify again without notifying twice.

CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    category    text NOT NULL CHECK (category IN ('reminder', 'update')),
    booking_id  uuid REFERENCES bookings (id) ON DELETE CASCADE,
    data        jsonb NOT NULL,          -- times, offering name, names: never health data
    dedupe_key  text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    emailed_at  timestamptz
);
CREATE INDEX notifications_user ON notifications (user_id, created_at DESC, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE notification_preferences (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_reminders  boolean NOT NULL DEFAULT true,
    email_updates    boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- p_notices: [{id, user_id, kind, category, booking_id, data, dedupe_key}, ...].
-- Returns the notifications actually inserted (a repeated dedupe_key is skipped).
-- Email jobs are due at p_now, the caller's scheduling clock.
CREATE FUNCTION notify(p_notices jsonb, p_now timestamptz) RETURNS jsonb
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
        WHERE CASE i.category WHEN 'reminder' THEN coalesce(p.email_reminders, true)
                              ELSE coalesce(p.email_updates, true) END
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', i.id, 'user_id', i.user_id, 'kind', i.kind, 'category', i.category,
               'booking_id', i.booking_id, 'data', i.data, 'created_at', i.created_at)), '[]'::jsonb)
    INTO v_out FROM inserted i;
    RETURN v_out;
END
$$;
