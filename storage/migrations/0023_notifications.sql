-- In-app notifications (the user's inbox) and which of them also go by email.
--
-- Every notification is kept and listed; preferences choose the kinds that
-- are also emailed. Notifications are written by `notify`
-- (storage/functions/notify.sql), which queues the emails in the same
-- statement. `dedupe_key` lets a retried job notify again without notifying
-- twice.

CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    category    text NOT NULL CHECK (category IN ('reminder', 'update')),
    booking_id  uuid REFERENCES bookings (id) ON DELETE CASCADE,
    data        jsonb NOT NULL,          -- times, offering name, names: never health data
    dedupe_key  text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    emailed_at  timestamptz
);
CREATE INDEX notifications_user ON notifications (user_id, created_at DESC, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE notification_preferences (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_reminders  boolean NOT NULL DEFAULT true,
    email_updates    boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
