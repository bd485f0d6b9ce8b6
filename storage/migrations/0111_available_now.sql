-- The live "available now" marker (docs/search.md, Available now).
--
-- Showing anyone that a practitioner is online is personal data, so it is their choice:
-- `show_available_now`, off until they turn it on. Off, the marker is never true and their presence is
-- never read for it.
--
-- A session's start and end change the marker by time alone, so each booking's timeline job
-- (scheduler/timeline.py) gains a `session_edge` step at both, which tells the processes watching the
-- practitioner to look again. Timelines queued before this migration get theirs here: the steps of a
-- confirmed or started booking's timeline, with an edge for its start and its end where still ahead, in
-- time order, the job due at the first.

ALTER TABLE practitioners ADD COLUMN show_available_now boolean NOT NULL DEFAULT false;

WITH timelines AS MATERIALIZED (
    SELECT id, payload FROM jobs
    WHERE kind = 'booking.timeline' AND state = 'queued' AND payload->>'start_at' IS NOT NULL
), edged AS (
    SELECT t.id, jsonb_agg(step ORDER BY (step->>'at')::timestamptz) AS steps,
           min((step->>'at')::timestamptz) AS first_at
    FROM timelines t
    JOIN bookings b ON b.id = (t.payload->>'booking_id')::uuid AND b.start_at = (t.payload->>'start_at')::timestamptz
    CROSS JOIN LATERAL (
        SELECT s AS step FROM jsonb_array_elements(t.payload->'steps') s
        UNION ALL
        SELECT jsonb_build_object('do', 'session_edge', 'at', to_char(e AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        FROM unnest(ARRAY[b.start_at, b.end_at]) AS e WHERE e > now()
    ) steps
    WHERE b.status IN ('confirmed', 'in_session')
    GROUP BY t.id
)
UPDATE jobs j SET payload = jsonb_set(j.payload, '{steps}', e.steps), run_at = e.first_at
FROM edged e WHERE j.id = e.id;
