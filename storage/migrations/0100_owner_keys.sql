-- Personal fields sealed with their owner's data key (storage/keyring.py), not the system key, so that
-- destroying one person's key (erasure) makes all of it unreadable: names, emails, messages, booking notes
-- and reasons, notifications.
--
-- The columns that held values in the old way are renamed `*_system_sealed` (sealed with the system key) and
-- a new `*_sealed` column, sealed with the owner's key, takes their place; renaming rewrites nothing, so this
-- migration is instant on any size of table. Clear values stay where they were: `users.display_name` of
-- clients and admins, `notifications.data`. Converting them needs the keys, which SQL cannot reach: the
-- upgrade step `owner_keys` (storage/reseal.py) runs after the migrations, under the migration lock, and
-- empties every old column as it reseals. It is queued below only when there is data to convert.
--
-- Whose key seals what (docs/records.md, "Encryption at rest"):
--   users.name_sealed, users.email_sealed      the account's owner
--   messages.body_sealed                       the sender
--   bookings.note_sealed                       the client, who wrote it
--   bookings.cancel_reason_sealed              whoever cancelled (cancelled_by), else the client
--   bookings.decline_reason_sealed             the practitioner (only they decline)
--   notifications.data_sealed                  the recipient

-- A practitioner's name is public (their profile, search) and stays in display_name; anyone else's is sealed
-- in name_sealed. An erased account's tombstone keeps the clear "Deleted user" and no email.
ALTER TABLE users ADD COLUMN name_sealed bytea;
ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_one_name CHECK (num_nonnulls(display_name, name_sealed) = 1);
ALTER TABLE users ADD CONSTRAINT users_public_name CHECK (role <> 'practitioner' OR name_sealed IS NULL);
ALTER TABLE users RENAME COLUMN email_sealed TO email_system_sealed;
ALTER TABLE users ALTER COLUMN email_system_sealed DROP NOT NULL;
ALTER TABLE users ADD COLUMN email_sealed bytea;
ALTER TABLE users ADD CONSTRAINT users_email_kept
    CHECK (erased_at IS NOT NULL OR num_nonnulls(email_sealed, email_system_sealed) = 1);

ALTER TABLE messages RENAME COLUMN body_sealed TO body_system_sealed;
ALTER TABLE messages ADD COLUMN body_sealed bytea;
ALTER TABLE messages DROP CONSTRAINT messages_check;
ALTER TABLE messages ADD CONSTRAINT messages_one_body
    CHECK (deleted_at IS NOT NULL OR num_nonnulls(body_sealed, body_system_sealed, ciphertext) = 1);

ALTER TABLE bookings RENAME COLUMN note_sealed TO note_system_sealed;
ALTER TABLE bookings RENAME COLUMN cancel_reason_sealed TO cancel_reason_system_sealed;
ALTER TABLE bookings RENAME COLUMN decline_reason_sealed TO decline_reason_system_sealed;
ALTER TABLE bookings ADD COLUMN note_sealed bytea;
ALTER TABLE bookings ADD COLUMN cancel_reason_sealed bytea;
ALTER TABLE bookings ADD COLUMN decline_reason_sealed bytea;

ALTER TABLE notifications ADD COLUMN data_sealed bytea;
ALTER TABLE notifications ALTER COLUMN data DROP NOT NULL;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_data CHECK (num_nonnulls(data, data_sealed) = 1);

-- Python upgrade steps a migration leaves to do (storage/upgrades.py runs them at start-up and deletes each
-- row once its step has finished). A database with nothing to convert never gets a row.
CREATE TABLE pending_upgrades (
    name      text PRIMARY KEY,
    queued_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pending_upgrades (name) SELECT 'owner_keys' WHERE EXISTS (SELECT FROM users);
