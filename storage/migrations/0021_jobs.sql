-- Durable jobs: reminders, request expiry, session completion, email delivery.
--
-- Every process claims due jobs with FOR UPDATE SKIP LOCKED and holds each one
-- under a lease (`locked_until`) that it renews while the handler runs. A job
-- whose lease ran out (its process died) is due again, so delivery is
-- at-least-once and handlers are written to be idempotent. A failed attempt
-- is retried later with backoff; after `max_attempts` the job is `dead` and
-- stays for inspection. `dedupe_key` makes enqueueing idempotent.

CREATE TABLE jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    dedupe_key    text UNIQUE,
    run_at        timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
    locked_by     text,
    locked_until  timestamptz,
    outcome       text,            -- what a finished handler did (sent, skipped_cancelled, ...)
    last_error    text,            -- the error type of the last failed attempt; never personal data
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    CHECK ((state = 'running') = (locked_until IS NOT NULL))
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_dead ON jobs (finished_at) WHERE state = 'dead';
