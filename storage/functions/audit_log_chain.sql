-- audit_log_chain: gives each new audit entry its place in the hash chain
-- (migration 0041 describes the chain; storage/audit.py verifies it and must
-- hash exactly the same text).
--
-- The head row of `audit_chain` is locked for the rest of the inserting
-- transaction, so entries chain in one order even when written concurrently;
-- audit writes are single autocommit statements, so the lock is held for one
-- insert and its commit. Concurrent appends therefore queue on it (see
-- bench/results/records.md for what that costs).
-- The hashed text is the entry's fields joined by the unit separator, NULL
-- written as \N, the instant as microseconds since the epoch.

CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_prev bytea;
BEGIN
    SELECT seq, hash INTO v_seq, v_prev FROM audit_chain WHERE one FOR UPDATE;
    IF NOT FOUND THEN  -- the first entry ever: start the chain (a racing first writer waits on the key)
        INSERT INTO audit_chain (seq, hash) VALUES (0, '\x'::bytea) ON CONFLICT (one) DO NOTHING;
        SELECT seq, hash INTO v_seq, v_prev FROM audit_chain WHERE one FOR UPDATE;
    END IF;
    NEW.seq := v_seq + 1;
    NEW.prev_hash := v_prev;
    NEW.hash := sha256(v_prev || convert_to(concat_ws(chr(31),
        NEW.seq::text, (extract(epoch FROM NEW.at) * 1000000)::bigint::text,
        coalesce(NEW.actor_id::text, '\N'), NEW.action, coalesce(NEW.subject_id::text, '\N'),
        coalesce(NEW.resource, '\N'), coalesce(NEW.reason, '\N'), NEW.outcome, coalesce(NEW.request_id, '\N')), 'UTF8'));
    UPDATE audit_chain SET seq = NEW.seq, hash = NEW.hash WHERE one;
    IF NEW.seq % 1024 = 0 THEN
        INSERT INTO audit_anchors (seq, hash) VALUES (NEW.seq, NEW.hash);
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
