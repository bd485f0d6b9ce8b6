-- next_free_stale: a practitioner's first free slot (practitioner_search.next_free_at, migration 0110) may have
-- moved: make it due for the job that computes it (`search.first_free`, discovery/jobs.py) and bump its version,
-- so a computation that read the state before this change does not overwrite the mark when it writes.
--
-- Fired in the transaction of every change the slot finder reads: a new practitioner (its row in the queue is
-- made here) or a profile save (booking rules, time zone), offerings, weekly hours, date overrides, time off,
-- and bookings that start or stop holding time (booking_holds_time: created, cancelled, declined, expired). A
-- booking's other changes (confirmed, started, completed) hold the same time and fire nothing. What a
-- booking pays is this one update of a narrow row (measured in docs/search.md, Cost).

CREATE OR REPLACE FUNCTION next_free_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_practitioner uuid;
BEGIN
    IF TG_TABLE_NAME = 'practitioners' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO next_free_due (practitioner_id, due_at) VALUES (NEW.user_id, now()) ON CONFLICT DO NOTHING;
            RETURN NULL;
        END IF;
        v_practitioner := NEW.user_id;
    ELSIF TG_OP = 'DELETE' THEN
        v_practitioner := OLD.practitioner_id;
    ELSE
        v_practitioner := NEW.practitioner_id;
    END IF;
    UPDATE next_free_due SET version = version + 1, due_at = least(due_at, now())
    WHERE practitioner_id = v_practitioner;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER next_free_stale AFTER INSERT OR UPDATE ON practitioners
    FOR EACH ROW EXECUTE FUNCTION next_free_stale();
CREATE OR REPLACE TRIGGER next_free_stale AFTER INSERT OR UPDATE ON offerings
    FOR EACH ROW EXECUTE FUNCTION next_free_stale();
CREATE OR REPLACE TRIGGER next_free_stale AFTER INSERT OR DELETE ON availability_rules
    FOR EACH ROW EXECUTE FUNCTION next_free_stale();
CREATE OR REPLACE TRIGGER next_free_stale AFTER INSERT OR DELETE ON availability_overrides
    FOR EACH ROW EXECUTE FUNCTION next_free_stale();
CREATE OR REPLACE TRIGGER next_free_stale AFTER INSERT OR DELETE ON time_off
    FOR EACH ROW EXECUTE FUNCTION next_free_stale();
CREATE OR REPLACE TRIGGER next_free_stale_booked AFTER INSERT ON bookings
    FOR EACH ROW WHEN (booking_holds_time(NEW.status)) EXECUTE FUNCTION next_free_stale();
CREATE OR REPLACE TRIGGER next_free_stale_released AFTER UPDATE OF status ON bookings
    FOR EACH ROW WHEN (booking_holds_time(OLD.status) <> booking_holds_time(NEW.status))
    EXECUTE FUNCTION next_free_stale();
