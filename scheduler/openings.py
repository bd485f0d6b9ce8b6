"""The soonest bookable start of many practitioners at once, for search and profiles.

It runs the booking's own slot finder (`scheduler/slots.py`) over a fresh
snapshot of each practitioner (hours, overrides, time off, held bookings), so
"free within N days" means exactly what the slots endpoint would list, never
a stale copy. Which offerings count is the caller's choice (`accepts`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from storage import availability
from storage.database import Database
from storage.practitioners import Offering

from .schedule import finder


async def soonest_free(
    db: Database, practitioner_ids: list[uuid.UUID], accepts: Callable[[Offering], bool], start: datetime,
    end: datetime, *, now: datetime,
) -> dict[uuid.UUID, datetime]:
    """Each practitioner's first bookable start in [start, end) of an offering `accepts` takes; those with none
    are left out."""
    if not practitioner_ids:
        return {}
    found = await availability.openings_of_many(
        db, practitioner_ids, first_day=(start - timedelta(days=2)).date(), last_day=(end + timedelta(days=1)).date(),
        span_from=start - timedelta(days=1), span_to=end + timedelta(days=1),
    )
    out: dict[uuid.UUID, datetime] = {}
    for pid, openings in found.items():
        firsts = [
            first for o in openings.offerings if accepts(o)
            if (first := finder(openings.snapshot, o, now).first(start, end)) is not None
        ]
        if firsts:
            out[pid] = min(firsts)
    return out
