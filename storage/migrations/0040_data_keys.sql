-- Envelope encryption: one data key per person, wrapped by the master key.
--
-- `wrapped` is the person's 32-byte data key sealed with the key-wrapping key
-- derived from KLEAR_DATA_KEY (storage/keyring.py), bound to `owner_id` as
-- associated data; `master` is the fingerprint of the master key that wrapped
-- it, so `klear keys rotate` re-wraps exactly the keys still under the previous
-- master and nothing else. The nil uuid owns the system key, which seals what
-- belongs to no one person (message bodies, booking notes, emails until they
-- move to their owner's key) and keys the blind indexes.
--
-- Erasure (crypto-shredding) sets `wrapped` to NULL and stamps `shredded_at`:
-- the row stays as the tombstone that says the key was destroyed on purpose.
-- No foreign key to users: the system key has no user, and a tombstone outlives
-- the account.

CREATE TABLE data_keys (
    owner_id    uuid PRIMARY KEY,
    wrapped     bytea,
    master      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz,
    shredded_at timestamptz,
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
);
