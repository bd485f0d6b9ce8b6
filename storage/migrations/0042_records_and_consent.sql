-- Health records and the consents that share them.
--
-- A record belongs to one client (`client_id`, whose data key seals it) and is
-- written by its author: the client (kind 'history': conditions, medications,
-- allergies, free notes; kind 'intake': answers to a practitioner's intake
-- questionnaire, `template_id` at `template_version`; kind 'attachment': a PDF
-- or image whose sealed bytes are in the blob store) or a practitioner (kind
-- 'note': a session note tied to `booking_id`; `private` hides it from the
-- client). Every edit adds a row to `health_record_versions`, so old versions
-- stay readable; each version's body (JSON) is sealed with the client's key,
-- bound to "health_record_versions.body:<record id>:<version>". Nothing here
-- names a condition in clear: the category is inside the sealed body.
--
-- Intake templates are the practitioner's questionnaires (JSON Schema), one row
-- per version; they hold questions, not answers, and are not sealed.
--
-- A consent grant lets one practitioner read scopes of one client's records
-- until `expires_at`. A grant proposed on a booking starts 'proposed' and the
-- client accepts ('active') or declines it; the client revokes any grant.

CREATE TABLE intake_templates (
    id              uuid PRIMARY KEY,
    practitioner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX intake_templates_practitioner ON intake_templates (practitioner_id);

CREATE TABLE intake_template_versions (
    template_id uuid NOT NULL REFERENCES intake_templates (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    schema      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

CREATE TABLE health_records (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    author_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('history', 'note', 'intake', 'attachment')),
    booking_id  uuid REFERENCES bookings (id) ON DELETE CASCADE,
    template_id uuid,
    template_version integer,
    private     boolean NOT NULL DEFAULT false,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'note') = (booking_id IS NOT NULL)),
    CHECK (kind = 'note' OR NOT private),
    CHECK ((kind = 'intake') = (template_id IS NOT NULL AND template_version IS NOT NULL)),
    FOREIGN KEY (template_id, template_version) REFERENCES intake_template_versions (template_id, version)
);
CREATE INDEX health_records_client ON health_records (client_id, created_at);

CREATE TABLE health_record_versions (
    record_id   uuid NOT NULL REFERENCES health_records (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    author_id   uuid NOT NULL,
    body_sealed bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, version)
);

CREATE TABLE consent_grants (
    id              uuid PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    practitioner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes          text[] NOT NULL CHECK (cardinality(scopes) > 0
                        AND scopes <@ ARRAY['intake', 'history', 'notes', 'attachments']),
    status          text NOT NULL CHECK (status IN ('proposed', 'active', 'declined', 'revoked')),
    booking_id      uuid REFERENCES bookings (id) ON DELETE CASCADE,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX consent_grants_pair ON consent_grants (client_id, practitioner_id) WHERE status = 'active';
CREATE INDEX consent_grants_practitioner ON consent_grants (practitioner_id);
