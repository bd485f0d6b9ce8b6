-- A booking's finish job (complete, or no-show for a video session nobody
-- started) now runs when the session window closes, 15 minutes after the end,
-- instead of 10: until then both people may still join and start the booking
-- (scheduler/states.py, rtc/plan.py). Finish jobs already queued move with it.

UPDATE jobs SET run_at = run_at + interval '5 minutes' WHERE kind = 'booking.finish' AND state = 'queued';
