-- Classes: an offering with a capacity above one is taught to several clients
-- at once. Bookings of the same offering at the same start share the
-- practitioner's time, up to the capacity, and nothing else shares it: a
-- different offering, or another start of the same one, that overlaps (with
-- buffers) is still refused. A capacity of 1 is a one-to-one offering, as
-- before. Each booking stays its own: its own status, history, jobs,
-- notifications and two-person conversation.
--
-- booking_create (storage/functions/booking_create.sql) counts the class
-- under the same practitioner lock as the overlap check, so concurrent
-- requests from any number of processes never fill a class beyond its
-- capacity. The daily limit counts sessions: a class is one, so joining an
-- existing class is never refused for the day.

ALTER TABLE offerings ADD COLUMN capacity integer NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 100);
