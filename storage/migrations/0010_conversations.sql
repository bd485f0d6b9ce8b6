-- Conversations, their members, and messages.
--
-- Each conversation keeps two counters, advanced under its row lock in the
-- same transaction that writes the change, so they are gap-free across
-- processes: `last_seq` numbers messages, `last_rev` numbers every change
-- (a new message, an edit, a deletion). Message text is sealed by the server;
-- in an end-to-end encrypted conversation only the clients' ciphertext is kept.

CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('direct', 'booking')),
    e2ee        boolean NOT NULL DEFAULT false,
    direct_key  text UNIQUE,            -- "<lower user id>:<higher user id>" for one-to-one chats
    booking_id  uuid UNIQUE,            -- set for kind = 'booking'
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seq    bigint NOT NULL DEFAULT 0,
    last_rev    bigint NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL)),
    CHECK ((kind = 'booking') = (booking_id IS NOT NULL))
);

CREATE TABLE conversation_members (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at       timestamptz NOT NULL DEFAULT now(),
    read_seq        bigint NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id);

CREATE TABLE messages (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    rev             bigint NOT NULL,
    id              uuid NOT NULL UNIQUE,
    sender_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id       uuid NOT NULL,
    body_sealed     bytea,              -- server-encrypted text (plain conversations)
    ciphertext      bytea,              -- client-encrypted payload (e2ee conversations)
    nonce           bytea,
    sender_key_id   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    edited_at       timestamptz,
    deleted_at      timestamptz,
    PRIMARY KEY (conversation_id, seq),
    CONSTRAINT messages_client_id_unique UNIQUE (sender_id, client_id),
    CHECK (deleted_at IS NOT NULL OR (body_sealed IS NULL) <> (ciphertext IS NULL))
);
CREATE INDEX messages_rev ON messages (conversation_id, rev);

-- X25519 public keys of users' devices, for end-to-end encrypted conversations.
CREATE TABLE device_keys (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_id      text NOT NULL,
    public_key  bytea NOT NULL CHECK (octet_length(public_key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    UNIQUE (user_id, key_id)
);
