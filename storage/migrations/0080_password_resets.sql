-- Password reset by email: a single-use, expiring token per request.
--
-- Only a hash of the token is stored (the email carries the token itself), so
-- a copy of the database opens no account. Spending one sets the password,
-- marks every outstanding token of the account used, and revokes every login
-- session of the account (storage/password_resets.py).

CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id) WHERE used_at IS NULL;

ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_revoked_reason_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'admin', 'password_reset'));
