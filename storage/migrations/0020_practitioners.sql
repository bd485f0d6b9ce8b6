-- Practitioner profiles, their offerings, and when they can be booked.
--
-- Weekly rules and date overrides are wall-clock minutes after local midnight
-- (1440 = end of day) in the practitioner's own time zone; they become UTC
-- instants only when slots are computed (scheduler/localtime.py). Time off is
-- a pair of instants. Durations and buffers are whole minutes.

CREATE TABLE practitioners (
    user_id           uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bio               text NOT NULL DEFAULT '' CHECK (char_length(bio) <= 4000),
    modalities        text[] NOT NULL DEFAULT '{}',
    languages         text[] NOT NULL DEFAULT '{}',
    time_zone         text NOT NULL,
    buffer_before_min integer NOT NULL DEFAULT 0 CHECK (buffer_before_min BETWEEN 0 AND 240),
    buffer_after_min  integer NOT NULL DEFAULT 0 CHECK (buffer_after_min BETWEEN 0 AND 240),
    min_notice_min    integer NOT NULL DEFAULT 240 CHECK (min_notice_min BETWEEN 0 AND 43200),
    horizon_days      integer NOT NULL DEFAULT 90 CHECK (horizon_days BETWEEN 1 AND 730),
    max_per_day       integer CHECK (max_per_day BETWEEN 1 AND 100),   -- NULL: no daily limit
    slot_interval_min integer NOT NULL DEFAULT 30 CHECK (slot_interval_min BETWEEN 5 AND 240),
    request_ttl_min   integer NOT NULL DEFAULT 1440 CHECK (request_ttl_min BETWEEN 5 AND 20160),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX practitioners_modalities ON practitioners USING gin (modalities);

CREATE TABLE offerings (
    id               uuid PRIMARY KEY,
    practitioner_id  uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
    description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    duration_min     integer NOT NULL CHECK (duration_min BETWEEN 5 AND 480),
    price_minor      bigint NOT NULL CHECK (price_minor BETWEEN 0 AND 100000000),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    mode             text NOT NULL CHECK (mode IN ('video', 'in_person')),
    address          text CHECK (char_length(address) <= 500),
    needs_approval   boolean NOT NULL DEFAULT false,
    late_cancel_min  integer NOT NULL DEFAULT 1440 CHECK (late_cancel_min BETWEEN 0 AND 20160),
    active           boolean NOT NULL DEFAULT true,   -- archived offerings stay for the bookings that used them
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((mode = 'in_person') = (address IS NOT NULL))
);
CREATE INDEX offerings_practitioner ON offerings (practitioner_id, created_at);

CREATE TABLE availability_rules (
    practitioner_id uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    weekday         smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),   -- ISO: 1 = Monday
    start_min       smallint NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    end_min         smallint NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
    CHECK (start_min < end_min),
    PRIMARY KEY (practitioner_id, weekday, start_min)
);

-- A row with NULL minutes is a day off (drops the weekly rules of that date);
-- a row with minutes adds open hours on that date.
CREATE TABLE availability_overrides (
    practitioner_id uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    day             date NOT NULL,
    start_min       smallint CHECK (start_min BETWEEN 0 AND 1439),
    end_min         smallint CHECK (end_min BETWEEN 1 AND 1440),
    CHECK ((start_min IS NULL) = (end_min IS NULL)),
    CHECK (start_min < end_min)
);
CREATE INDEX availability_overrides_day ON availability_overrides (practitioner_id, day);

CREATE TABLE time_off (
    id              uuid PRIMARY KEY,
    practitioner_id uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at < ends_at)
);
CREATE INDEX time_off_practitioner ON time_off (practitioner_id, ends_at);
