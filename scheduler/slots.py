"""Bookable start times: a practitioner's open hours, minus time off, other bookings, notice and horizon.

Pure functions over plain values, so the same code answers the slot list and
checks a booking's start time. Open hours come from weekly rules and date
overrides in the practitioner's time zone (see `localtime` for how DST gaps
and repeats resolve). Within each open span, starts step by the slot interval
in real (UTC) time from the span's first instant, so they never fall in a gap
or collide in a repeated hour, and a 09:00 rule starts at 09:00 local on
either side of a change.

A booking occupies its session plus its buffers. A new session fits when its
own session-plus-buffers overlaps no existing booking's session-plus-buffers
and its session overlaps no time off. Buffers may reach outside open hours;
sessions may not.

A class is an offering with a capacity above one: the bookings of that
offering at the same start share the practitioner's time, up to the capacity,
and count as one session towards the daily limit. Nothing else shares time, so
a one-to-one offering (capacity 1) is the special case of a class of one.
"""

from __future__ import annotations

import bisect
import enum
import math
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from .localtime import local_day, to_utc

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    """Open hours within one local day, in minutes after midnight; `end` may be 1440."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Override:
    """A date override: extra open hours, or (`window` None) a day off that drops the weekly hours."""

    day: date
    window: Window | None


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open interval of UTC instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Busy:
    """An existing booking that holds time: its session start, the span it blocks (buffers included), and its
    offering (bookings of one offering at one start are a class, which shares its time up to the capacity)."""

    start: datetime
    blocked: Span
    offering: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A practitioner's booking rules."""

    time_zone: ZoneInfo
    slot_interval: timedelta
    buffer_before: timedelta
    buffer_after: timedelta
    min_notice: timedelta
    horizon: timedelta
    max_per_day: int | None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Everything slot finding needs to know about a practitioner, apart from their bookings."""

    policy: Policy
    weekly: Mapping[int, Sequence[Window]]  # ISO weekday (1 = Monday) -> windows
    overrides: Sequence[Override]
    time_off: Sequence[Span]


class Refusal(enum.StrEnum):
    """Why a start time cannot be booked."""

    TOO_SOON = "too_soon"
    BEYOND_HORIZON = "beyond_horizon"
    OUTSIDE_HOURS = "outside_hours"
    TIME_OFF = "time_off"
    TAKEN = "taken"
    CLASS_FULL = "class_full"
    DAY_FULL = "day_full"


def merge(windows: Sequence[Window]) -> list[Window]:
    """Overlapping or touching windows joined, in order."""
    out: list[Window] = []
    for w in sorted(windows, key=lambda w: w.start):
        if out and w.start <= out[-1].end:
            out[-1] = Window(out[-1].start, max(out[-1].end, w.end))
        else:
            out.append(w)
    return out


def day_windows(day: date, weekly: Mapping[int, Sequence[Window]], overrides: Sequence[Override]) -> list[Window]:
    """Open hours on `day`: the weekly rules unless a day-off override drops them, plus any added hours."""
    todays = [o for o in overrides if o.day == day]
    windows = [] if any(o.window is None for o in todays) else list(weekly.get(day.isoweekday(), ()))
    windows += [o.window for o in todays if o.window is not None]
    return merge(windows)


def open_spans(first: date, last: date, schedule: Schedule) -> list[Span]:
    """Open hours from local date `first` to `last` inclusive, as merged UTC spans."""
    tz = schedule.policy.time_zone
    spans: list[Span] = []
    day = first
    while day <= last:
        for w in day_windows(day, schedule.weekly, schedule.overrides):
            span = Span(to_utc(day, w.start, tz), to_utc(day, w.end, tz, ends_window=True))
            if span.start >= span.end:
                continue  # a window lying wholly inside a DST gap
            if spans and span.start <= spans[-1].end:
                spans[-1] = Span(spans[-1].start, max(spans[-1].end, span.end))
            else:
                spans.append(span)
        day += ONE_DAY
    return spans


_Key = tuple[uuid.UUID | None, float]  # (offering, start) of a booking: the class it belongs to


class _Blocks:
    """Sorted spans (as POSIX seconds) with a running maximum of ends: does anything overlap [a, b)? in O(log n).

    Each span may carry a key; a query may leave out the spans of one key (the class being joined)."""

    def __init__(self, spans: Sequence[Span], keys: Sequence[_Key | None] = ()) -> None:
        order = sorted(range(len(spans)), key=lambda i: spans[i].start)
        self._starts = [spans[i].start.timestamp() for i in order]
        self._ends = [spans[i].end.timestamp() for i in order]
        self._keys = [keys[i] for i in order] if keys else [None] * len(order)
        self._max_end = list(accumulate(self._ends, max))

    def blocked_until(self, a: float, b: float, sharing: _Key | None = None) -> float | None:
        """If a span (other than those keyed `sharing`) overlaps [a, b): the latest end among such spans. Else None."""
        k = bisect.bisect_left(self._starts, b)
        if k == 0 or self._max_end[k - 1] <= a:
            return None
        if sharing is None:
            return self._max_end[k - 1]
        # Walk back only while some earlier span still reaches past a (the running maximum says so).
        latest = None
        i = k - 1
        while i >= 0 and self._max_end[i] > a:
            if self._ends[i] > a and self._keys[i] != sharing:
                latest = self._ends[i] if latest is None else max(latest, self._ends[i])
            i -= 1
        return latest


class SlotFinder:
    """Checks candidate starts of one offering against a schedule, its bookings and the clock.

    `offering` and `capacity` describe the offering being booked: its bookings
    at a candidate start are that start's class, which it may join while
    places are left.

    The inner loop runs on POSIX seconds rather than datetimes: a month of
    candidates is checked about four times faster, and every instant involved
    is a whole number of seconds, so the arithmetic is exact.
    """

    def __init__(
        self, schedule: Schedule, busy: Sequence[Busy], duration: timedelta, now: datetime, *,
        offering: uuid.UUID | None = None, capacity: int = 1,
    ) -> None:
        self.schedule = schedule
        self.policy = p = schedule.policy
        self.duration = duration
        self.capacity = capacity
        self._offering = offering
        self._length = duration.total_seconds()
        self._step = p.slot_interval.total_seconds()
        self._before = p.buffer_before.total_seconds()
        self._after = p.buffer_after.total_seconds()
        self._earliest = (now + p.min_notice).timestamp()
        self._latest = (now + p.horizon).timestamp()
        keys = [(b.offering, b.start.timestamp()) for b in busy]
        self._busy = _Blocks([b.blocked for b in busy], keys)
        self._time_off = _Blocks(schedule.time_off)
        # Places taken in this offering's classes, by start.
        self._booked = Counter(k[1] for k in keys if offering is not None and k[0] == offering)
        self._class_starts = sorted(self._booked)
        # Sessions (a class counts once) per local day, needed only under a daily limit.
        self._per_day = (
            Counter(local_day(_instant(start), p.time_zone) for _, start in set(keys))
            if p.max_per_day is not None else Counter()
        )

    def places(self, start: datetime) -> int:
        """Places left at `start` in this offering's class there (the capacity if nobody booked it yet)."""
        return self.capacity - self._booked[start.timestamp()]

    def _clash(self, start: float) -> float | None:
        """If another booking's span overlaps the session at `start` plus buffers: the latest such end."""
        a, b = start - self._before, start + self._length + self._after
        if start in self._booked:  # this offering's class at `start` shares the time
            return self._busy.blocked_until(a, b, sharing=(self._offering, start))
        return self._busy.blocked_until(a, b)

    def _skip_to(self, after: float, free: float) -> float:
        """Where to look next after a clash at `after`: when the clash ends (`free`), or at a class of this
        offering starting before then, which the clash does not block."""
        i = bisect.bisect_right(self._class_starts, after)
        return min(free, self._class_starts[i]) if i < len(self._class_starts) else free

    def _full(self) -> Refusal:
        return Refusal.TAKEN if self.capacity == 1 else Refusal.CLASS_FULL

    def _refusal(self, start: float) -> Refusal | None:
        """Why `start` (assumed on the grid of open hours) is not bookable, or None if it is."""
        end = start + self._length
        if start < self._earliest:
            return Refusal.TOO_SOON
        if start >= self._latest:
            return Refusal.BEYOND_HORIZON
        if self._time_off.blocked_until(start, end) is not None:
            return Refusal.TIME_OFF
        if self._clash(start) is not None:
            return Refusal.TAKEN
        if self._booked[start] >= self.capacity:
            return self._full()
        if self._day_full(start):
            return Refusal.DAY_FULL
        return None

    def _day_full(self, start: float) -> bool:
        """Whether a new session at `start` would exceed the daily limit (joining a class adds none)."""
        limit = self.policy.max_per_day
        return (
            limit is not None and start not in self._booked
            and self._per_day[local_day(_instant(start), self.policy.time_zone)] >= limit
        )

    def _spans_around(self, first: datetime, last: datetime) -> list[Span]:
        tz = self.policy.time_zone
        # Windows join across midnight: the day before can run on into the first day, and a session starting
        # late on the last day can end in the next one's hours (sessions are at most 8 hours).
        return open_spans(local_day(first, tz) - ONE_DAY, local_day(last, tz) + ONE_DAY, self.schedule)

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        """Every bookable start in [start, end), in order."""
        return list(self._starts(start, end))

    def first(self, start: datetime, end: datetime) -> datetime | None:
        """The first bookable start in [start, end), or None: search's "free within N days" stops there."""
        return next(self._starts(start, end), None)

    def _starts(self, start: datetime, end: datetime) -> Iterator[datetime]:
        lo, hi = max(start.timestamp(), self._earliest), min(end.timestamp(), self._latest)
        if lo >= hi:
            return
        step, length = self._step, self._length
        for span in self._spans_around(_instant(lo), _instant(hi)):
            origin, last = span.start.timestamp(), span.end.timestamp()

            def on_grid(at_least: float, origin: float = origin) -> float:
                """The first start on this span's grid at or after `at_least`."""
                return origin + step * max(0, math.ceil((at_least - origin) / step))

            t = on_grid(lo)
            while t + length <= last and t < hi:
                # A start blocked by time off or a booking skips straight past the block.
                off = self._time_off.blocked_until(t, t + length)
                if off is not None:
                    t = on_grid(off)
                    continue
                taken = self._clash(t)
                if taken is not None:
                    t = on_grid(self._skip_to(t, taken + self._before))
                    continue
                if self._booked[t] < self.capacity and not self._day_full(t):
                    yield _instant(t)  # notice and horizon hold: lo <= t < hi
                t += step

    def check(self, start: datetime) -> Refusal | None:
        """None if `start` is a bookable slot; otherwise why not."""
        for span in self._spans_around(start, start):
            if span.start <= start and start + self.duration <= span.end:
                if (start - span.start) % self.policy.slot_interval:
                    return Refusal.OUTSIDE_HOURS
                return self._refusal(start.timestamp())
        return Refusal.OUTSIDE_HOURS


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
