-- Apps (OAuth 2.0 clients), their authorization codes, and what a session may be besides a login.
--
-- A grant to an app, and a personal access token, are sessions of the person
-- like a login: revoking one reuses everything that already ends a login at
-- once (the per-process session cache, the bus announcement, the sockets of
-- that session). `kind` says which; `scopes` bounds what its tokens may do
-- (NULL for a login: everything the person may do).

CREATE TABLE apps (
    id             uuid PRIMARY KEY,
    client_id      text NOT NULL UNIQUE,
    secret_hash    bytea,  -- NULL for a public client (a browser or mobile app: PKCE alone)
    owner_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform       boolean NOT NULL DEFAULT false,  -- registered by an admin for the whole platform
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    logo_url       text,
    redirect_uris  text[] NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE INDEX apps_owner ON apps (owner_id);

ALTER TABLE auth_sessions
    ADD COLUMN kind       text NOT NULL DEFAULT 'login' CHECK (kind IN ('login', 'app', 'pat')),
    ADD COLUMN app_id     uuid REFERENCES apps (id) ON DELETE CASCADE,
    ADD COLUMN scopes     text[],
    ADD COLUMN name       text CHECK (char_length(name) BETWEEN 1 AND 80),  -- a personal access token's label
    ADD COLUMN token_hash bytea UNIQUE,  -- a personal access token's SHA-256
    ADD COLUMN expires_at timestamptz,
    ADD CONSTRAINT auth_sessions_kind_shape CHECK (
        (kind = 'login' AND app_id IS NULL AND scopes IS NULL AND token_hash IS NULL)
        OR (kind = 'app' AND app_id IS NOT NULL AND scopes IS NOT NULL AND token_hash IS NULL)
        OR (kind = 'pat' AND app_id IS NULL AND scopes IS NOT NULL AND token_hash IS NOT NULL AND name IS NOT NULL));
ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_revoked_reason_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'admin', 'code_reuse', 'by_person', 'by_app', 'app_deleted'));
CREATE INDEX auth_sessions_app ON auth_sessions (app_id, user_id) WHERE app_id IS NOT NULL;

-- Authorization codes: single use, short-lived, bound to the app, redirect URI and PKCE challenge.
-- Only their SHA-256 is kept. `session_id` is set when a code is exchanged, so a second
-- exchange (RFC 6749 10.5: someone else holds a copy) can revoke what the first one issued.
CREATE TABLE oauth_codes (
    code_hash       bytea PRIMARY KEY,
    app_id          uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    text NOT NULL,
    scopes          text[] NOT NULL,
    code_challenge  text NOT NULL,
    expires_at      timestamptz NOT NULL,
    session_id      uuid REFERENCES auth_sessions (id) ON DELETE CASCADE
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);
