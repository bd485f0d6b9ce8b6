-- The audit log becomes append-only and tamper-evident.
--
-- Each entry now also says why access was allowed (`reason`: the grant or
-- booking it rested on), whether it was allowed at all (`outcome`: failed
-- attempts are recorded too), and its place in a hash chain: `seq` counts
-- entries without gaps, `hash` = SHA-256(previous hash || the entry's fields)
-- (storage/functions/audit_log_chain.sql computes both on insert, under the
-- lock of the chain's head row). Editing, deleting or reordering entries
-- breaks the chain, and `klear audit verify` names the first entry that does
-- not fit (storage/audit.py). UPDATE, DELETE and TRUNCATE are refused by
-- trigger (storage/functions/audit_log_append_only.sql).
--
-- `audit_chain` holds the head (last seq and hash), so a deleted tail shows
-- too; `audit_anchors` copies the head every 1024 entries. `klear audit verify`
-- prints the head, for an operator to keep outside the database and give back
-- later (`--anchor SEQ:HASH`): a chain recomputed from scratch by someone who
-- can write the database would still disagree with an anchor kept elsewhere.
-- Entries written before this migration have no seq and stay outside the chain.

ALTER TABLE audit_log
    ADD COLUMN seq bigint UNIQUE,
    ADD COLUMN reason text,
    ADD COLUMN outcome text NOT NULL DEFAULT 'allowed' CHECK (outcome IN ('allowed', 'denied')),
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash bytea;

CREATE TABLE audit_chain (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq   bigint NOT NULL,
    hash  bytea NOT NULL
);

CREATE TABLE audit_anchors (
    seq   bigint PRIMARY KEY,
    hash  bytea NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);
