-- Optional two-factor sign-in: a TOTP secret (RFC 6238) per account, and single-use recovery codes.
--
-- The secret is sealed like every personal field (storage/crypto.py), bound to
-- its account. `last_step` is the newest time step accepted, so a code cannot
-- be used twice. Recovery codes are stored as hashes and spent once
-- (storage/two_factor.py).

CREATE TABLE two_factor (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    enabled_at timestamptz,
    last_step bigint
);

CREATE TABLE two_factor_recovery_codes (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
