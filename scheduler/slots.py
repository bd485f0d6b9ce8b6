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
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import Counter
from collections.abc import Mapping, Sequence
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
    """An existing booking that holds time: its session start and the span it blocks (buffers included)."""

    start: datetime
    blocked: Span


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


class _Blocks:
    """Sorted spans (as POSIX seconds) with a running maximum of ends: does anything overlap [a, b)? in O(log n)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        ordered = sorted(spans, key=lambda s: s.start)
        self._starts = [s.start.timestamp() for s in ordered]
        self._max_end = list(accumulate((s.end.timestamp() for s in ordered), max))

    def blocked_until(self, a: float, b: float) -> float | None:
        """If something overlaps [a, b): the latest end among the spans starting before b. Else None."""
        k = bisect.bisect_left(self._starts, b)
        if k > 0 and self._max_end[k - 1] > a:
            return self._max_end[k - 1]
        return None


class SlotFinder:
    """Checks candidate starts of one offering against a schedule, its bookings and the clock.

    The inner loop runs on POSIX seconds rather than datetimes: a month of
    candidates is checked about four times faster, and every instant involved
    is a whole number of seconds, so the arithmetic is exact.
    """

    def __init__(self, schedule: Schedule, busy: Sequence[Busy], duration: timedelta, now: datetime) -> None:
        self.schedule = schedule
        self.policy = p = schedule.policy
        self.duration = duration
        self._length = duration.total_seconds()
        self._step = p.slot_interval.total_seconds()
        self._before = p.buffer_before.total_seconds()
        self._after = p.buffer_after.total_seconds()
        self._earliest = (now + p.min_notice).timestamp()
        self._latest = (now + p.horizon).timestamp()
        self._busy = _Blocks([b.blocked for b in busy])
        self._time_off = _Blocks(schedule.time_off)
        # Sessions per local day, needed only under a daily limit.
        self._per_day = Counter(local_day(b.start, p.time_zone) for b in busy) if p.max_per_day is not None else Counter()

    def _refusal(self, start: float) -> Refusal | None:
        """Why `start` (assumed on the grid of open hours) is not bookable, or None if it is."""
        end = start + self._length
        if start < self._earliest:
            return Refusal.TOO_SOON
        if start >= self._latest:
            return Refusal.BEYOND_HORIZON
        if self._time_off.blocked_until(start, end) is not None:
            return Refusal.TIME_OFF
        if self._busy.blocked_until(start - self._before, end + self._after) is not None:
            return Refusal.TAKEN
        if self._day_full(_instant(start)):
            return Refusal.DAY_FULL
        return None

    def _day_full(self, start: datetime) -> bool:
        limit = self.policy.max_per_day
        return limit is not None and self._per_day[local_day(start, self.policy.time_zone)] >= limit

    def _spans_around(self, first: datetime, last: datetime) -> list[Span]:
        tz = self.policy.time_zone
        # Windows join across midnight: the day before can run on into the first day, and a session starting
        # late on the last day can end in the next one's hours (sessions are at most 8 hours).
        return open_spans(local_day(first, tz) - ONE_DAY, local_day(last, tz) + ONE_DAY, self.schedule)

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        """Every bookable start in [start, end), in order."""
        lo, hi = max(start.timestamp(), self._earliest), min(end.timestamp(), self._latest)
        if lo >= hi:
            return []
        out: list[datetime] = []
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
                taken = self._busy.blocked_until(t - self._before, t + length + self._after)
                if taken is not None:
                    t = on_grid(taken + self._before)
                    continue
                instant = _instant(t)  # notice and horizon hold: lo <= t < hi
                if not self._day_full(instant):
                    out.append(instant)
                t += step
        return out

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
