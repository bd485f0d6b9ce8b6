-- Accounts, login sessions (refresh-token families) and their refresh tokens.
-- Emails are personal data: stored sealed, found through a keyed blind index.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email_index   bytea NOT NULL,
    email_sealed  bytea NOT NULL,
    password_hash text NOT NULL,
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 80),
    role          text NOT NULL CHECK (role IN ('client', 'practitioner', 'admin')),
    time_zone     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_unique UNIQUE (email_index)
);

-- One row per login: the family of refresh tokens issued from it.
CREATE TABLE auth_sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'admin'))
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

-- Refresh tokens are random; only their SHA-256 is kept. A used token stays
-- as a tombstone so that presenting it again reveals theft.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
