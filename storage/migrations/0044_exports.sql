-- GDPR data exports (art. 15 and 20): one archive per request, built by a
-- durable job (`records.export`) and downloaded through an expiring link.
--
-- The archive (a zip: export.json plus attachments) and the link's token are
-- sealed with the person's data key, so an erasure shreds a pending or ready
-- export with everything else; only the token's SHA-256 is compared.

CREATE TABLE exports (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status         text NOT NULL CHECK (status IN ('queued', 'ready')),
    token_hash     bytea NOT NULL,
    token_sealed   bytea NOT NULL,
    archive_sealed bytea,
    size_bytes     bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    ready_at       timestamptz,
    expires_at     timestamptz,
    CHECK ((status = 'ready') = (archive_sealed IS NOT NULL))
);
CREATE INDEX exports_user ON exports (user_id, created_at DESC);
