-- Each practitioner's first free slot, kept for ranking search results by it over the whole result.
--
-- `practitioner_search.next_free_at` is the first bookable start of any active
-- offering in the next 42 days (NULL: none), found by the booking's own slot
-- finder. It is a ranking input only: the `free_within_days` filter and the
-- `next_free_slot` a result shows are still computed at query time. So that a
-- search's pages rank with the values of its first page, the value it replaced
-- and the instant it changed are kept too (`next_free_before`,
-- `next_free_since`): a page ranks with the value as it stood at the search's
-- `as_of` (docs/search.md, Pages).
--
-- `next_free_due` says when each practitioner's value must be computed again:
-- triggers (storage/functions/next_free_stale.sql) make it due at once, and
-- bump `version`, in the transaction of every change that can move it (a
-- booking that starts or stops holding time, hours, date overrides, time off,
-- offerings, the profile's booking rules); otherwise it falls due when time
-- alone moves it (the found slot passes its notice). The durable job
-- `search.first_free` (discovery/jobs.py) computes the due ones, and writes a
-- result only if `version` did not move meanwhile. The queue is a table of its
-- own, narrow and apart from the search row, so a booking writes one small row
-- and none of the search indexes.

ALTER TABLE practitioner_search
    ADD COLUMN next_free_at     timestamptz,
    ADD COLUMN next_free_before timestamptz,
    ADD COLUMN next_free_since  timestamptz NOT NULL DEFAULT '-infinity';

CREATE TABLE next_free_due (
    practitioner_id uuid PRIMARY KEY REFERENCES practitioners (user_id) ON DELETE CASCADE,
    due_at          timestamptz NOT NULL,
    version         bigint NOT NULL DEFAULT 0
);
CREATE INDEX next_free_due_at ON next_free_due (due_at);

INSERT INTO next_free_due (practitioner_id, due_at) SELECT user_id, now() FROM practitioners;
