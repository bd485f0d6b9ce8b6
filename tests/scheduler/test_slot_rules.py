"""Slot finding as pure functions: DST gaps and repeats, merging, buffers, time off, notice, horizon, daily limits."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.localtime import day_bounds, to_utc
from scheduler.slots import Busy, Override, Policy, Refusal, Schedule, SlotFinder, Span, Window, open_spans

pytestmark = pytest.mark.quick

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SPRING_NY, FALL_NY = date(2027, 3, 14), date(2027, 11, 7)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def policy(tz: ZoneInfo = NY, **changes: object) -> Policy:
    values: dict[str, object] = {
        "time_zone": tz, "slot_interval": timedelta(minutes=30), "buffer_before": timedelta(0),
        "buffer_after": timedelta(0), "min_notice": timedelta(0), "horizon": timedelta(days=730), "max_per_day": None,
    }
    values.update(changes)
    return Policy(**values)  # type: ignore[arg-type]


def every_day(*windows: tuple[int, int]) -> dict[int, list[Window]]:
    return {d: [Window(a, b) for a, b in windows] for d in range(1, 8)}


def finder(weekly: dict[int, list[Window]], *, overrides: list[Override] | None = None, busy: list[Busy] | None = None,
           time_off: list[Span] | None = None, duration: timedelta = HOUR, now: datetime = NOW, **rules: object) -> SlotFinder:
    tz = rules.pop("tz", NY)
    schedule = Schedule(policy(tz, **rules), weekly, overrides or [], time_off or [])  # type: ignore[arg-type]
    return SlotFinder(schedule, busy or [], duration, now)


def day_slots(f: SlotFinder, day: date, tz: ZoneInfo = NY) -> list[datetime]:
    start, end = day_bounds(day, tz)
    return f.slots(start, end)


class TestWallClockResolution:
    def test_a_skipped_time_resolves_to_the_instant_of_the_jump(self):
        assert to_utc(SPRING_NY, 150, NY) == utc(2027, 3, 14, 7)  # 02:30 does not exist; clocks jump at 07:00 UTC
        assert to_utc(SPRING_NY, 150, NY, ends_window=True) == utc(2027, 3, 14, 7)

    def test_a_repeated_time_starts_at_its_first_and_ends_at_its_second_occurrence(self):
        assert to_utc(FALL_NY, 90, NY) == utc(2027, 11, 7, 5, 30)  # 01:30 EDT
        assert to_utc(FALL_NY, 90, NY, ends_window=True) == utc(2027, 11, 7, 6, 30)  # 01:30 EST

    def test_the_day_is_23_and_25_hours_long_on_change_days(self):
        for day, hours in ((SPRING_NY, 23), (FALL_NY, 25)):
            start, end = day_bounds(day, NY)
            assert end - start == timedelta(hours=hours)

    def test_ordinary_times_are_exact(self):
        assert to_utc(SPRING_NY, 540, NY) == utc(2027, 3, 14, 13)  # 09:00 EDT
        assert to_utc(date(2027, 3, 13), 540, NY) == utc(2027, 3, 13, 14)  # 09:00 EST


class TestDaylightSaving:
    def test_nine_to_five_stays_nine_to_five_local_across_the_spring_change(self):
        f = finder(every_day((540, 1020)))
        before, after = day_slots(f, date(2027, 3, 13)), day_slots(f, SPRING_NY)
        assert before[0] == utc(2027, 3, 13, 14) and after[0] == utc(2027, 3, 14, 13)
        assert [s.astimezone(NY).strftime("%H:%M") for s in before] == [s.astimezone(NY).strftime("%H:%M") for s in after]
        assert len(after) == 15

    def test_a_window_across_the_gap_is_as_long_as_the_clock_runs(self):
        f = finder(every_day((0, 240)))  # 00:00-04:00 covers the skipped 02:00-03:00
        slots = day_slots(f, SPRING_NY)
        assert slots[0] == utc(2027, 3, 14, 5) and slots[-1] == utc(2027, 3, 14, 7)
        assert len(slots) == 5  # three real hours, 60-minute sessions every 30 minutes
        assert all(s + HOUR <= utc(2027, 3, 14, 8) for s in slots)

    def test_a_window_inside_the_gap_offers_nothing(self):
        assert day_slots(finder(every_day((120, 180))), SPRING_NY) == []

    def test_the_repeated_hour_is_offered_twice_without_colliding(self):
        f = finder(every_day((0, 180)))  # 00:00-03:00 includes 01:00-02:00 twice
        slots = day_slots(f, FALL_NY)
        assert len(set(slots)) == len(slots) == 7  # four real hours
        locals_ = [s.astimezone(NY) for s in slots]
        assert [t.strftime("%H:%M %Z") for t in locals_][2:5] == ["01:00 EDT", "01:30 EDT", "01:00 EST"]

    def test_london_changes_at_its_own_date(self):
        f = finder(every_day((540, 1020)), tz=LONDON)
        assert day_slots(f, date(2027, 3, 28), LONDON)[0] == utc(2027, 3, 28, 8)
        assert day_slots(f, date(2027, 10, 31), LONDON)[0] == utc(2027, 10, 31, 9)


class TestOpenHours:
    def test_a_day_off_drops_the_weekly_hours_and_extra_hours_add_to_them(self):
        day = date(2027, 1, 5)
        f = finder(every_day((540, 600)), overrides=[Override(day, None), Override(day, Window(1200, 1260))])
        assert [s.astimezone(NY).strftime("%H:%M") for s in day_slots(f, day)] == ["20:00"]
        g = finder(every_day((540, 600)), overrides=[Override(day, Window(600, 660))])
        assert [s.astimezone(NY).strftime("%H:%M") for s in day_slots(g, day)] == ["09:00", "09:30", "10:00"]

    def test_hours_running_past_midnight_join_the_next_day(self):
        weekly = every_day((1320, 1440), (0, 120))  # 22:00-24:00 and 00:00-02:00
        spans = open_spans(date(2027, 1, 4), date(2027, 1, 5), Schedule(policy(), weekly, [], []))
        assert Span(to_utc(date(2027, 1, 4), 1320, NY), to_utc(date(2027, 1, 5), 120, NY)) in spans
        starts = finder(weekly, duration=timedelta(minutes=90)).slots(utc(2027, 1, 5, 2), utc(2027, 1, 5, 8))
        assert utc(2027, 1, 5, 4, 30) in starts  # 23:30 local, ending 01:00 the next day

    def test_a_late_start_running_into_the_next_days_hours_is_offered_and_accepted(self):
        f = finder(every_day((0, 1440)))
        late = utc(2027, 1, 6, 4, 30)  # 23:30 local on 5 January, ending 00:30 on the 6th
        assert f.check(late) is None
        assert late in day_slots(f, date(2027, 1, 5))  # the list of the 5th alone offers it too


class TestBookingsAndRules:
    def test_bookings_and_both_buffers_block(self):
        day = date(2027, 1, 5)
        taken = Busy(utc(2027, 1, 5, 16), Span(utc(2027, 1, 5, 15, 45), utc(2027, 1, 5, 17, 15)))
        f = finder(every_day((540, 1020)), busy=[taken], buffer_before=timedelta(minutes=15),
                   buffer_after=timedelta(minutes=15))
        local = [s.astimezone(NY).strftime("%H:%M") for s in day_slots(f, day)]
        # 11:00-12:00 is taken with 10:45-12:15 blocked; a new session needs 15 minutes either side too.
        assert "09:30" in local and "10:00" not in local and "12:00" not in local and "12:30" in local

    def test_time_off_blocks_sessions_but_buffers_may_touch_it(self):
        off = Span(utc(2027, 1, 5, 17), utc(2027, 1, 5, 18))  # 12:00-13:00 local
        f = finder(every_day((540, 1020)), time_off=[off], buffer_after=timedelta(minutes=30))
        local = [s.astimezone(NY).strftime("%H:%M") for s in day_slots(f, date(2027, 1, 5))]
        assert "11:00" in local and "11:30" not in local and "12:30" not in local and "13:00" in local

    def test_notice_horizon_and_daily_limit(self):
        now = utc(2027, 1, 5, 15, 10)  # 10:10 local
        f = finder(every_day((540, 1020)), now=now, min_notice=timedelta(hours=1), horizon=timedelta(days=2))
        assert day_slots(f, date(2027, 1, 5))[0] == utc(2027, 1, 5, 16, 30)
        assert day_slots(f, date(2027, 1, 8)) == []
        assert f.check(utc(2027, 1, 5, 15, 30)) is Refusal.TOO_SOON
        assert f.check(utc(2027, 1, 9, 15)) is Refusal.BEYOND_HORIZON
        one = Busy(utc(2027, 1, 6, 14), Span(utc(2027, 1, 6, 14), utc(2027, 1, 6, 15)))
        full = finder(every_day((540, 1020)), busy=[one], max_per_day=1)
        assert day_slots(full, date(2027, 1, 6)) == [] and full.check(utc(2027, 1, 6, 18)) is Refusal.DAY_FULL
        assert day_slots(full, date(2027, 1, 7))

    @pytest.mark.parametrize(
        ("start", "refusal"),
        [
            (utc(2027, 1, 5, 14), None),  # 09:00 local
            (utc(2027, 1, 5, 14, 10), Refusal.OUTSIDE_HOURS),  # off the 30-minute grid
            (utc(2027, 1, 5, 13, 30), Refusal.OUTSIDE_HOURS),  # 08:30 local, before opening
            (utc(2027, 1, 5, 21, 30), Refusal.OUTSIDE_HOURS),  # 16:30 local: the session would end after 17:00
        ],
    )
    def test_check_accepts_only_starts_on_the_grid_inside_open_hours(self, start, refusal):
        assert finder(every_day((540, 1020))).check(start) is refusal


class TestClasses:
    """An offering with a capacity above one: its bookings at one start share the time, up to the capacity."""

    YOGA, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)
    TEN = utc(2027, 1, 5, 15)  # 10:00 local

    def booked(self, offering: uuid.UUID, start: datetime, n: int = 1) -> list[Busy]:
        blocked = Span(start - timedelta(minutes=15), start + HOUR + timedelta(minutes=15))
        return [Busy(start, blocked, offering) for _ in range(n)]

    def yoga(self, busy: list[Busy], capacity: int = 3, **rules: object) -> SlotFinder:
        schedule = Schedule(policy(NY, buffer_before=timedelta(minutes=15), buffer_after=timedelta(minutes=15), **rules),
                            every_day((540, 1020)), [], [])
        return SlotFinder(schedule, busy, HOUR, NOW, offering=self.YOGA, capacity=capacity)

    def test_a_class_is_offered_with_its_places_until_it_is_full(self):
        for n, places in ((0, 3), (1, 2), (2, 1)):
            f = self.yoga(self.booked(self.YOGA, self.TEN, n))
            assert f.check(self.TEN) is None and self.TEN in day_slots(f, date(2027, 1, 5)) and f.places(self.TEN) == places
        full = self.yoga(self.booked(self.YOGA, self.TEN, 3))
        assert full.check(self.TEN) is Refusal.CLASS_FULL and self.TEN not in day_slots(full, date(2027, 1, 5))

    def test_only_the_same_offering_at_the_same_start_shares_the_time(self):
        f = self.yoga(self.booked(self.YOGA, self.TEN))
        local = [x.astimezone(NY).strftime("%H:%M") for x in day_slots(f, date(2027, 1, 5))]
        assert "10:00" in local and "09:30" not in local and "10:30" not in local and "11:30" in local
        assert f.check(self.TEN + timedelta(minutes=30)) is Refusal.TAKEN
        other = self.yoga(self.booked(self.OTHER, self.TEN))
        assert other.check(self.TEN) is Refusal.TAKEN and self.TEN not in day_slots(other, date(2027, 1, 5))

    def test_a_one_to_one_offering_is_a_class_of_one(self):
        f = self.yoga(self.booked(self.YOGA, self.TEN), capacity=1)
        assert f.check(self.TEN) is Refusal.TAKEN and self.TEN not in day_slots(f, date(2027, 1, 5))

    @pytest.mark.parametrize("seed", range(200))
    def test_the_list_offers_exactly_the_starts_that_check_accepts(self, seed):
        """Random days of classes and one-to-one bookings of two offerings: the list (which skips past blocks)
        and the check of each start (which booking uses) never disagree."""
        r = random.Random(seed)
        step, duration = timedelta(minutes=r.choice([15, 30])), timedelta(minutes=r.choice([30, 60]))
        before, after = timedelta(minutes=r.choice([0, 10, 15])), timedelta(minutes=r.choice([0, 10, 15]))
        schedule = Schedule(policy(NY, slot_interval=step, buffer_before=before, buffer_after=after,
                                   max_per_day=r.choice([None, 1, 2, 3])), every_day((540, 1020)), [], [])
        capacity, opening = r.choice([1, 2, 3]), utc(2027, 1, 5, 14)
        busy: list[Busy] = []
        for _ in range(r.randint(0, 8)):  # bookings made one by one, each accepted by the check
            offering, start = r.choice([self.YOGA, self.OTHER]), opening + step * r.randint(0, 30)
            if SlotFinder(schedule, busy, duration, NOW, offering=offering, capacity=capacity).check(start) is None:
                busy.append(Busy(start, Span(start - before, start + duration + after), offering))
        f = SlotFinder(schedule, busy, duration, NOW, offering=self.YOGA, capacity=capacity)
        candidates = [opening + step * i for i in range(int((8 * HOUR - duration) / step) + 1)]
        assert day_slots(f, date(2027, 1, 5)) == [t for t in candidates if f.check(t) is None]

    def test_a_class_counts_once_towards_the_daily_limit(self):
        f = self.yoga(self.booked(self.YOGA, self.TEN, 2), max_per_day=1)
        assert f.check(self.TEN) is None and f.check(self.TEN + 3 * HOUR) is Refusal.DAY_FULL
        assert day_slots(f, date(2027, 1, 5)) == [self.TEN]


async def test_one_definition_says_which_statuses_hold_time(database_url):
    """SQL `booking_holds_time` is the one definition: booking_create checks it, and the slot finder's snapshot
    (storage/availability.py) reads the bookings it selects. The planner inlines it, so it costs nothing."""
    import asyncpg

    from scheduler.states import Status

    conn = await asyncpg.connect(database_url)
    try:
        holding = {s for s in Status if await conn.fetchval("SELECT booking_holds_time($1)", s.value)}
        plan = await conn.fetch("EXPLAIN VERBOSE SELECT 1 FROM bookings b WHERE booking_holds_time(b.status)")
    finally:
        await conn.close()
    assert holding == {Status.REQUESTED, Status.CONFIRMED, Status.IN_SESSION, Status.COMPLETED, Status.NO_SHOW}
    assert "booking_holds_time" not in "\n".join(r[0] for r in plan)
