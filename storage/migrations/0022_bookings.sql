-- Bookings, their history (which is also their live event stream), and the per-user feed.
--
-- No double booking: every write that takes time from a practitioner holds a
-- transaction-scoped advisory lock on that practitioner and checks for overlap
-- under it (see booking_create in 0024). `blocked_from`/`blocked_to` are the
-- session plus the buffers in force when it was booked; two bookings holding
-- time never have overlapping blocked spans. A blocked span is shorter than a
-- day, which bounds the overlap search by `start_at`.
--
-- Sequences: `bookings.seq` numbers the changes of one booking (it is also the
-- calendar SEQUENCE); `booking_feed_counters.last_seq` numbers the booking
-- changes a user sees across all their bookings. Both advance under row locks
-- in the transaction that writes the change, so they are gap-free.

CREATE TABLE bookings (
    id                    uuid PRIMARY KEY,
    practitioner_id       uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    client_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    offering_id           uuid NOT NULL REFERENCES offerings (id),
    conversation_id       uuid NOT NULL REFERENCES conversations (id),
    status                text NOT NULL CHECK (status IN
                              ('requested', 'confirmed', 'in_session', 'completed', 'declined', 'cancelled', 'no_show')),
    mode                  text NOT NULL CHECK (mode IN ('video', 'in_person')),
    start_at              timestamptz NOT NULL,
    end_at                timestamptz NOT NULL,
    blocked_from          timestamptz NOT NULL,
    blocked_to            timestamptz NOT NULL,
    price_minor           bigint NOT NULL,
    currency              text NOT NULL,
    late_cancel_min       integer NOT NULL,          -- the offering's policy when booked
    note_sealed           bytea,                     -- the client's note; health data, sealed
    seq                   bigint NOT NULL,
    requested_by          uuid NOT NULL,
    idempotency_key       text NOT NULL,
    request_hash          bytea NOT NULL,
    expires_at            timestamptz,               -- an unanswered request is declined then
    rescheduled_from      uuid REFERENCES bookings (id),
    rescheduled_to        uuid REFERENCES bookings (id),
    cancelled_by          uuid,
    cancelled_by_role     text CHECK (cancelled_by_role IN ('client', 'practitioner', 'system')),
    cancelled_at          timestamptz,
    cancelled_late        boolean,
    cancel_reason_sealed  bytea,
    decline_reason_sealed bytea,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (start_at < end_at),
    CHECK (blocked_from <= start_at AND blocked_to >= end_at AND blocked_to - blocked_from < interval '1 day'),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CONSTRAINT bookings_idempotency UNIQUE (requested_by, idempotency_key)
);
-- The overlap check and slot lists: bookings that hold time, by practitioner and start.
CREATE INDEX bookings_holding ON bookings (practitioner_id, start_at)
    WHERE status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show');
CREATE INDEX bookings_practitioner ON bookings (practitioner_id, start_at);
CREATE INDEX bookings_client ON bookings (client_id, start_at);

CREATE TABLE booking_events (
    booking_id   uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    kind         text NOT NULL,
    actor_id     uuid,
    actor_role   text NOT NULL CHECK (actor_role IN ('client', 'practitioner', 'system')),
    from_status  text,
    to_status    text NOT NULL,
    body         jsonb NOT NULL,          -- what live subscribers receive; holds no health data
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (booking_id, seq)
);

CREATE TABLE booking_feed_counters (
    user_id   uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_seq  bigint NOT NULL
);

CREATE TABLE booking_feed (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    booking_id   uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    booking_seq  bigint NOT NULL,
    PRIMARY KEY (user_id, seq)
);
