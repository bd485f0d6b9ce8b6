-- Discovery: where a practitioner works, what search reads, the typo vocabulary, reviews and credentials.
--
-- `practitioner_search` is one row per practitioner holding what a search
-- filters and ranks on, so a search reads one table: the weighted text
-- document, modalities, languages, the modes of active offerings, the point,
-- the verified badge and the rating aggregate. Everything but the aggregate is
-- rebuilt from the sources by the function `practitioner_search_refresh`
-- (storage/functions/), which the statements that change a profile, an
-- offering, a display name or a credential call in their own transaction. The
-- aggregate moves by increments under the row's lock when a review is written
-- or hidden, so concurrent reviews never lose one. Bookings never touch it.
--
-- `search_vocabulary` holds the words of names, modalities, places and
-- offering names with their trigrams, so a misspelt query word finds its
-- neighbours through a GIN index on a text[] (no pg_trgm on the embedded
-- PostgreSQL). Words are added when a practitioner's row is refreshed and are
-- never removed: a stale word only offers a correction that matches nothing.

ALTER TABLE practitioners
    ADD COLUMN latitude  double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN place     text CHECK (char_length(place) <= 120),
    ADD COLUMN photo_url text CHECK (char_length(photo_url) <= 500),
    ADD CONSTRAINT practitioners_point CHECK ((latitude IS NULL) = (longitude IS NULL));

CREATE TABLE practitioner_search (
    practitioner_id uuid PRIMARY KEY REFERENCES practitioners (user_id) ON DELETE CASCADE,
    document        tsvector NOT NULL,
    modalities      text[] NOT NULL,
    languages       text[] NOT NULL,
    modes           text[] NOT NULL,       -- of the active offerings
    latitude        double precision,
    longitude       double precision,
    verified        boolean NOT NULL DEFAULT false,
    rating_count    integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    rating_sum      bigint NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    refreshed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX practitioner_search_document ON practitioner_search USING gin (document);
CREATE INDEX practitioner_search_modalities ON practitioner_search USING gin (modalities);
CREATE INDEX practitioner_search_languages ON practitioner_search USING gin (languages);
CREATE INDEX practitioner_search_point ON practitioner_search (latitude, longitude) WHERE latitude IS NOT NULL;

CREATE TABLE search_vocabulary (
    word     text PRIMARY KEY,
    trigrams text[] NOT NULL
);
CREATE INDEX search_vocabulary_trigrams ON search_vocabulary USING gin (trigrams);

-- A review of a completed booking: one per booking, by its client.
CREATE TABLE reviews (
    id              uuid PRIMARY KEY,
    booking_id      uuid NOT NULL UNIQUE REFERENCES bookings (id) ON DELETE CASCADE,
    practitioner_id uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    client_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating          smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body            text NOT NULL CHECK (char_length(body) <= 4000),
    reply           text CHECK (char_length(reply) <= 4000),
    replied_at      timestamptz,
    hidden_at       timestamptz,
    hidden_by       uuid REFERENCES users (id),
    hidden_reason   text CHECK (char_length(hidden_reason) <= 500),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((reply IS NULL) = (replied_at IS NULL)),
    CHECK ((hidden_at IS NULL) = (hidden_reason IS NULL))
);
CREATE INDEX reviews_practitioner ON reviews (practitioner_id, created_at DESC, id DESC);

-- Abuse reports on reviews: the admin moderation queue is the open ones.
CREATE TABLE review_reports (
    id          uuid PRIMARY KEY,
    review_id   uuid NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    resolved_at timestamptz,
    resolution  text CHECK (resolution IN ('hidden', 'kept')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (review_id, reporter_id)
);
CREATE INDEX review_reports_open ON review_reports (created_at, id) WHERE resolved_at IS NULL;

-- Credentials a practitioner uploads; an admin verifies or rejects them. A verified one that has
-- expired loses its badge (status 'expired') through the credential's expiry job.
CREATE TABLE credentials (
    id              uuid PRIMARY KEY,
    practitioner_id uuid NOT NULL REFERENCES practitioners (user_id) ON DELETE CASCADE,
    title           text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    issuer          text NOT NULL CHECK (char_length(issuer) BETWEEN 1 AND 200),
    number          text NOT NULL CHECK (char_length(number) BETWEEN 1 AND 100),
    expires_at      timestamptz,
    document        bytea NOT NULL CHECK (octet_length(document) <= 524288),
    document_type   text NOT NULL CHECK (document_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'rejected', 'expired')),
    decided_by      uuid REFERENCES users (id),
    decided_at      timestamptz,
    reason          text CHECK (char_length(reason) <= 500),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_practitioner ON credentials (practitioner_id, created_at);
CREATE INDEX credentials_pending ON credentials (created_at, id) WHERE status = 'pending';

-- Rows for the practitioners that exist already, so their reviews count from the start, and a durable
-- job (`search.rebuild`, discovery/jobs.py) that builds their documents and vocabulary with
-- practitioner_search_refresh once the functions are in place (they are applied after migrations).
INSERT INTO practitioner_search (practitioner_id, document, modalities, languages, modes)
SELECT p.user_id, ''::tsvector, p.modalities, p.languages, '{}' FROM practitioners p;
INSERT INTO jobs (kind, payload, dedupe_key, run_at)
SELECT 'search.rebuild', '{}', 'search.rebuild:0050', now() WHERE EXISTS (SELECT 1 FROM practitioners);
