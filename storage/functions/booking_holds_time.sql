-- booking_holds_time: whether a booking in this status holds its
-- practitioner's time, so that no other booking may overlap it. Cancelled and
-- declined bookings free their time; every other status keeps it.
--
-- The one definition: booking_create's checks, the slot finder's snapshot
-- (storage/availability.py) and bookings.overlapping_pairs all call it. A
-- one-expression SQL function is inlined by the planner, so a filter on it
-- costs what the spelled-out list did. Keep it out of index predicates:
-- changing it would not rebuild them.

CREATE OR REPLACE FUNCTION booking_holds_time(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT p_status IN ('requested', 'confirmed', 'in_session', 'completed', 'no_show') $$;
