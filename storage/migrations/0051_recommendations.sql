-- Recommendations and the people a client does not want to see again.
--
-- `practitioner_similarity` holds, for each practitioner, the 20 others most
-- often booked by the same clients (cosine of their client sets), rebuilt
-- whole by the durable job `recommendations.compute` (storage/recommendations.py).
-- `user_blocks` and `user_reports` are a client's blocks and abuse reports of
-- another account; recommendations never show either.

CREATE TABLE practitioner_similarity (
    practitioner_id uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    similar_id      uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    score           double precision NOT NULL CHECK (score > 0 AND score <= 1),
    shared_clients  integer NOT NULL CHECK (shared_clients > 0),
    computed_at     timestamptz NOT NULL,
    PRIMARY KEY (practitioner_id, similar_id),
    CHECK (practitioner_id <> similar_id)
);

CREATE TABLE user_blocks (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, blocked_id),
    CHECK (user_id <> blocked_id)
);

CREATE TABLE user_reports (
    id          uuid PRIMARY KEY,
    reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reported_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (reporter_id, reported_id),
    CHECK (reporter_id <> reported_id)
);
CREATE INDEX user_reports_open ON user_reports (created_at, id) WHERE resolved_at IS NULL;
