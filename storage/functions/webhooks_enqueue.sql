-- webhooks_enqueue: in the caller's transaction, write a delivery of event
-- `p_type` to every live subscription that wants it: a person's own among
-- `p_users`, and each app's that one of `p_users` authorised with `p_scope`.
-- A delivery gets its job at once unless an older delivery of the same
-- booking to the same subscription is still pending: it then waits its turn
-- (storage/webhooks.py queues it when that one is done).

CREATE OR REPLACE FUNCTION webhooks_enqueue(
    p_type text, p_users uuid[], p_booking_id uuid, p_booking_seq bigint, p_data jsonb, p_scope text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH subs AS (
        SELECT s.id FROM webhook_subscriptions s
        WHERE s.deleted_at IS NULL AND s.disabled_at IS NULL AND p_type = ANY (s.events)
          AND ((s.app_id IS NULL AND s.owner_id = ANY (p_users))
               OR (s.app_id IS NOT NULL AND EXISTS (
                   SELECT 1 FROM auth_sessions a
                   WHERE a.app_id = s.app_id AND a.user_id = ANY (p_users) AND a.kind = 'app'
                     AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now())
                     AND p_scope = ANY (a.scopes))))
    ), made AS (
        INSERT INTO webhook_deliveries (id, subscription_id, type, booking_id, booking_seq, payload)
        SELECT gen_random_uuid(), s.id, p_type, p_booking_id, p_booking_seq,
               jsonb_build_object('type', p_type, 'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                  'data', p_data)
        FROM subs s
        RETURNING id, subscription_id, booking_id
    )
    INSERT INTO jobs (kind, payload, dedupe_key, run_at)
    SELECT 'webhook.deliver', jsonb_build_object('delivery_id', m.id), 'webhook:' || m.id, now()
    FROM made m
    WHERE m.booking_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM webhook_deliveries d
        WHERE d.subscription_id = m.subscription_id AND d.booking_id = m.booking_id AND d.state = 'pending');
    IF FOUND THEN
        PERFORM pg_notify('klear_jobs_due', '');  -- job runners wake as this commits (storage/jobs.py)
    END IF;
END
$$;
