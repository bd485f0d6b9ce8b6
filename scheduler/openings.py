"""The soonest bookable start of many practitioners at once, for search and profiles.

It runs the booking's own slot finder (`scheduler/slots.py`) over a fresh
snapshot of each practitioner (hours, overrides, time off, held bookings), so
"free within N days" means exactly what the slots endpoint would list, never
a stale copy. Which offerings count is the caller's choice (`accepts`).

`first_free` is the same search over every active offering, with when its
answer stops holding by time alone, for the copy search ranks by
(practitioner_search.next_free_at, kept by discovery's `search.first_free` job).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from storage import availability
from storage.availability import Openings
from storage.database import Database
from storage.discovery import FirstFree
from storage.practitioners import Offering

from .schedule import finder

# With no slot in the window, how long until looking again: the window and each practitioner's horizon move
# with time, so one may appear without any change. Search ranking is what waits, never a booking.
EMPTY_RECHECK = timedelta(hours=1)


async def _openings(db: Database, practitioner_ids: list[uuid.UUID], start: datetime, end: datetime) -> dict[uuid.UUID, Openings]:
    return await availability.openings_of_many(
        db, practitioner_ids, first_day=(start - timedelta(days=2)).date(), last_day=(end + timedelta(days=1)).date(),
        span_from=start - timedelta(days=1), span_to=end + timedelta(days=1),
    )


def _first(openings: Openings, accepts: Callable[[Offering], bool], start: datetime, end: datetime,
           now: datetime) -> datetime | None:
    firsts = [
        first for o in openings.offerings if accepts(o)
        if (first := finder(openings.snapshot, o, now).first(start, end)) is not None
    ]
    return min(firsts) if firsts else None


async def soonest_free(
    db: Database, practitioner_ids: list[uuid.UUID], accepts: Callable[[Offering], bool], start: datetime,
    end: datetime, *, now: datetime,
) -> dict[uuid.UUID, datetime]:
    """Each practitioner's first bookable start in [start, end) of an offering `accepts` takes; those with none
    are left out."""
    if not practitioner_ids:
        return {}
    found = await _openings(db, practitioner_ids, start, end)
    return {pid: first for pid, o in found.items() if (first := _first(o, accepts, start, end, now)) is not None}


async def first_free(
    db: Database, practitioner_ids: list[uuid.UUID], now: datetime, *, within: timedelta,
) -> dict[uuid.UUID, FirstFree]:
    """Each practitioner's first bookable start of any active offering in [now, now + within), and when time
    alone may move it: just after that start passes its notice (an earlier one can only come from a change,
    which marks it again), in EMPTY_RECHECK when there is none, never without an active offering."""
    found = await _openings(db, practitioner_ids, now, now + within)
    out: dict[uuid.UUID, FirstFree] = {}
    for pid, o in found.items():
        at = _first(o, lambda _: True, now, now + within, now)
        if at is not None:
            notice = timedelta(minutes=o.snapshot.practitioner.rules.min_notice_min)
            out[pid] = FirstFree(at, at - notice + timedelta(seconds=1))
        else:
            out[pid] = FirstFree(None, now + EMPTY_RECHECK if o.offerings else None)
    return out
