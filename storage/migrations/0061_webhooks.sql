-- Webhooks: subscriptions, the deliveries each event makes, and every attempt at one.
--
-- A delivery is written in the transaction of the change it reports (see
-- storage/functions/webhooks_enqueue.sql), so no committed change goes
-- unreported across a crash or restart. Deliveries of one booking to one
-- subscription are sent in booking_seq order: only the oldest pending one of
-- such a stream has a job; delivering it (or giving up on it) queues the next.

CREATE TABLE webhook_subscriptions (
    id               uuid PRIMARY KEY,
    owner_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,  -- manages it; told when it is disabled
    app_id           uuid REFERENCES apps (id) ON DELETE CASCADE,  -- set: events of everyone who authorised the app
    url              text NOT NULL,
    secret_sealed    bytea NOT NULL,  -- the whsec_ signing secret, sealed (storage/crypto.py)
    events           text[] NOT NULL CHECK (cardinality(events) > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    disabled_at      timestamptz,  -- after persistent failure; the owner enables it again
    disabled_reason  text,
    deleted_at       timestamptz
);
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner_id) WHERE deleted_at IS NULL;
CREATE INDEX webhook_subscriptions_app ON webhook_subscriptions (app_id) WHERE app_id IS NOT NULL AND deleted_at IS NULL;
-- Posting a message asks whether anyone wants message.created at all: this keeps the answer free while no one does.
CREATE INDEX webhook_subscriptions_messages ON webhook_subscriptions (id)
    WHERE 'message.created' = ANY (events) AND deleted_at IS NULL AND disabled_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,  -- the webhook-id header: the same on every attempt
    subscription_id  uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    type             text NOT NULL,
    booking_id       uuid,
    booking_seq      bigint,
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    finished_at      timestamptz
);
CREATE INDEX webhook_deliveries_stream ON webhook_deliveries (subscription_id, booking_id, booking_seq)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, created_at DESC);

CREATE TABLE webhook_attempts (
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status       integer,  -- the receiver's HTTP status; NULL when it gave none
    latency_ms   integer NOT NULL,
    error        text,     -- why there was no 2xx: timeout, refused_address, connection, http_status
    excerpt      text,     -- the first bytes of the receiver's answer
    PRIMARY KEY (delivery_id, attempt)
);
