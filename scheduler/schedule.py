"""A practitioner's stored hours and rules, read from storage, as the slot finder's values."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storage.availability import Snapshot
from storage.practitioners import Offering, Practitioner

from .slots import Busy, Override, Policy, Schedule, SlotFinder, Span, Window


def policy_of(p: Practitioner) -> Policy:
    r = p.rules
    return Policy(
        time_zone=ZoneInfo(p.time_zone),
        slot_interval=timedelta(minutes=r.slot_interval_min),
        buffer_before=timedelta(minutes=r.buffer_before_min),
        buffer_after=timedelta(minutes=r.buffer_after_min),
        min_notice=timedelta(minutes=r.min_notice_min),
        horizon=timedelta(days=r.horizon_days),
        max_per_day=r.max_per_day,
    )


def schedule_of(snap: Snapshot) -> Schedule:
    weekly: defaultdict[int, list[Window]] = defaultdict(list)
    for rule in snap.rules:
        weekly[rule.weekday].append(Window(rule.start_min, rule.end_min))
    overrides = [
        Override(o.day, None if o.start_min is None or o.end_min is None else Window(o.start_min, o.end_min))
        for o in snap.overrides
    ]
    return Schedule(policy_of(snap.practitioner), weekly, overrides, [Span(t.starts_at, t.ends_at) for t in snap.time_off])


def finder(snap: Snapshot, offering: Offering, now: datetime) -> SlotFinder:
    """A slot finder for `offering` over the snapshot, its held bookings counted (its classes with their places)."""
    busy = [Busy(h.start_at, Span(h.blocked_from, h.blocked_to), h.offering_id) for h in snap.held]
    return SlotFinder(
        schedule_of(snap), busy, timedelta(minutes=offering.duration_min), now, offering=offering.id,
        capacity=offering.capacity,
    )
