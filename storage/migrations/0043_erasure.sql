-- Account erasure (GDPR art. 17) by crypto-shredding; storage/erasure.py does it.
--
-- An erased account keeps its users row as a tombstone (`erased_at` set, no
-- email, no password, display name "Deleted user"): its id is the pseudonym
-- that the bookings kept for the practitioner's accounting still reference,
-- and nothing links that id to a person any more. A login session ended by
-- erasure records why.

ALTER TABLE users ADD COLUMN erased_at timestamptz;
ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_revoked_reason_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'admin', 'erased'));
