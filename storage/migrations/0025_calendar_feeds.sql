-- Secret calendar-feed URLs. The token is random and shown once; only its
-- SHA-256 is kept, so a database leak does not expose anyone's calendar.
-- Rotating replaces the hash, which retires the old URL at once.

CREATE TABLE calendar_feeds (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
