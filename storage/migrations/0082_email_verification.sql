-- Email verification: when an account's address was shown to be its owner's, and the single-use tokens
-- emailed to prove it (only their hashes; storage/email_verification.py).

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE email_verifications (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX email_verifications_user ON email_verifications (user_id);
