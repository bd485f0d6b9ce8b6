-- Load-test users: accounts an admin creates in bulk (POST /admin/test-users) for `klear loadtest`,
-- grouped in batches so the tool can remove exactly what it made (DELETE /admin/test-users/{batch}).
-- Their password hash is not a valid argon2 hash, so nobody can sign in as them with a password; the
-- tool gets their first token pair from the creating request.

CREATE TABLE test_user_batches (
    id          uuid PRIMARY KEY,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE test_users (
    user_id   uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    batch_id  uuid NOT NULL REFERENCES test_user_batches (id) ON DELETE CASCADE
);
CREATE INDEX test_users_batch ON test_users (batch_id);
