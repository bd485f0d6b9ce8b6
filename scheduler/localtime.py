"""Wall-clock times of a practitioner's day as UTC instants, with DST gaps and repeats decided on purpose.

A weekly rule such as "09:00-17:00" means: available while the practitioner's
wall clock shows a time in [09:00, 17:00) on that date. That definition fixes
the two awkward cases of a daylight-saving change:

- A wall time that does not exist (the clock jumps from 02:00 to 03:00, so
  02:30 never happens) resolves to the instant of the jump: the first moment
  the clock shows a time at or after it.
- A wall time that happens twice (the clock goes back from 02:00 to 01:00, so
  01:30 happens twice) resolves to its first occurrence when it starts a
  window and to its second when it ends one, so a window stays one piece and
  includes the repeated hour.

Times after midnight are minutes since local midnight; 1440 is the end of the day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 1440


def _wall(day: date, minute: int) -> datetime:
    """The naive wall-clock datetime `minute` minutes after midnight of `day` (1440 is the next midnight)."""
    return datetime.combine(day, time()) + timedelta(minutes=minute)


def _transition_after(tz: ZoneInfo, earlier: datetime, later: datetime) -> datetime:
    """The instant in (earlier, later] at which the UTC offset of `tz` changes (to the second)."""
    before = earlier.astimezone(tz).utcoffset()
    lo, hi = earlier, later
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


@lru_cache(maxsize=65536)
def to_utc(day: date, minute: int, tz: ZoneInfo, *, ends_window: bool = False) -> datetime:
    """The UTC instant of wall time `minute` on `day` in `tz`, resolving gaps and repeats as described above.

    Cached: slot lists ask for the same few window edges of the same days over and over.
    """
    wall = _wall(day, minute)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return first
    exists = first.astimezone(tz).replace(tzinfo=None) == wall
    if exists:  # a repeated wall time: fold=0 is the earlier instant
        return second if ends_window else first
    # A skipped wall time: fold=0 uses the offset before the jump and lands after it, fold=1 before it.
    return _transition_after(tz, min(first, second), max(first, second))


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The date on the wall calendar of `tz` at `instant`."""
    return instant.astimezone(tz).date()


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which `day` begins and ends in `tz`."""
    return to_utc(day, 0, tz), to_utc(day, MINUTES_PER_DAY, tz)
