-- notify: write notifications and, in the same statement, queue the email of
-- each one its recipient wants by email (notification_preferences), so a
-- notification and its email are written together or not at all.
--
-- p_notices: [{id, user_id, kind, category, booking_id, data_sealed, dedupe_key}, ...]
-- as storage/notifications.py prepares them: `data_sealed` is the notice's
-- data sealed with its recipient's key, base64; the plaintext never reaches
-- the database. A repeated dedupe_key is skipped, so a retried job does not
-- notify twice. Email jobs are due at p_now, the caller's scheduling clock,
-- and are queued only if p_email (the caller's "email is configured": without
-- an SMTP relay they could never be sent). Returns the notifications actually
-- inserted, without their data (the caller holds it).

CREATE OR REPLACE FUNCTION notify(p_notices jsonb, p_now timestamptz, p_email boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb;
BEGIN
    IF p_notices IS NULL OR jsonb_array_length(p_notices) = 0 THEN
        RETURN '[]'::jsonb;
    END IF;
    WITH inserted AS (
        INSERT INTO notifications (id, user_id, kind, category, booking_id, data_sealed, dedupe_key)
        SELECT n.id, n.user_id, n.kind, n.category, n.booking_id, decode(n.data_sealed, 'base64'), n.dedupe_key
        FROM jsonb_to_recordset(p_notices)
             AS n (id uuid, user_id uuid, kind text, category text, booking_id uuid, data_sealed text, dedupe_key text)
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
        RETURNING notifications.id, notifications.user_id, notifications.kind, notifications.category,
                  notifications.booking_id, notifications.created_at
    ), mailed AS (
        INSERT INTO jobs (kind, payload, dedupe_key, run_at)
        SELECT 'email.send', jsonb_build_object('notification_id', i.id), 'email:' || i.id, p_now
        FROM inserted i LEFT JOIN notification_preferences p ON p.user_id = i.user_id
        WHERE p_email AND CASE i.category WHEN 'reminder' THEN coalesce(p.email_reminders, true)
                                          ELSE coalesce(p.email_updates, true) END
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', i.id, 'user_id', i.user_id, 'kind', i.kind, 'category', i.category,
               'booking_id', i.booking_id, 'created_at', i.created_at)), '[]'::jsonb)
    INTO v_out FROM inserted i;
    RETURN v_out;
END
$$;
