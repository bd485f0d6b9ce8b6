-- enqueue_jobs: queue jobs in the caller's transaction.
-- p_jobs: [{kind, payload, dedupe_key, run_at}, ...]; a repeated dedupe_key is skipped.

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
