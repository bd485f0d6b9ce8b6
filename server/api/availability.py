"""A practitioner's open hours: weekly hours, date overrides and time off.

Only the practitioner reads or changes their own. Times of day are "HH:MM" on
the practitioner's wall clock ("24:00" ends a day), so hours follow their time
zone through DST; time off is a pair of instants (ISO 8601 with an offset).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from storage import availability
from storage.availability import DateOverride, WeeklyRule
from storage.practitioners import Practitioner

from ..errors import NotFound
from ..routing import Call, Input, Output, RouteTable
from .fields import Day, Instant
from .scheduling import existing_profile, own_practitioner_id, scheduler

routes = RouteTable("practitioners")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _minutes(value: str) -> int:
    match = _CLOCK.match(value)
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError("must be a time of day HH:MM (00:00 to 24:00)")
    return int(match.group(1)) * 60 + int(match.group(2))


def _valid_clock(value: str) -> str:
    _minutes(value)
    return value


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


ClockTime = Annotated[
    str, StringConstraints(max_length=5), AfterValidator(_valid_clock), Field(json_schema_extra={"pattern": _CLOCK.pattern})
]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class WeeklyHours(Input):
    weekday: Weekday
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyHours:
        if _minutes(self.start) >= _minutes(self.end):
            raise ValueError("end must be after start")
        return self


class DateOverrideIn(Input):
    date: Day
    kind: Literal["day_off", "extra_hours"]
    start: ClockTime | None = None
    end: ClockTime | None = None

    @model_validator(mode="after")
    def _hours_match_kind(self) -> DateOverrideIn:
        if self.kind == "day_off" and (self.start is not None or self.end is not None):
            raise ValueError("a day_off takes no start or end")
        if self.kind == "extra_hours":
            if self.start is None or self.end is None:
                raise ValueError("extra_hours need a start and an end")
            if _minutes(self.start) >= _minutes(self.end):
                raise ValueError("end must be after start")
        return self


class HoursIn(Input):
    weekly: list[WeeklyHours] = Field(max_length=100)
    overrides: list[DateOverrideIn] = Field(default_factory=list, max_length=1000)


class TimeOffIn(Input):
    starts_at: Instant
    ends_at: Instant

    @model_validator(mode="after")
    def _ordered(self) -> TimeOffIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > timedelta(days=366):
            raise ValueError("time off is at most a year at a time")
        return self


class TimeOffOut(Output):
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class HoursOut(Output):
    time_zone: str
    weekly: list[WeeklyHours]
    overrides: list[DateOverrideIn]
    time_off: list[TimeOffOut]


def _hours_out(
    p: Practitioner, rules: list[WeeklyRule], overrides: list[DateOverride], time_off: list[availability.TimeOff]
) -> HoursOut:
    return HoursOut(
        time_zone=p.time_zone,
        weekly=[
            WeeklyHours(weekday=WEEKDAYS[r.weekday - 1], start=_clock(r.start_min), end=_clock(r.end_min))  # type: ignore[arg-type]
            for r in rules
        ],
        overrides=[
            DateOverrideIn(date=o.day, kind="day_off") if o.start_min is None or o.end_min is None
            else DateOverrideIn(date=o.day, kind="extra_hours", start=_clock(o.start_min), end=_clock(o.end_min))
            for o in overrides
        ],
        time_off=[TimeOffOut.model_validate(t) for t in time_off],
    )


@routes.get("/practitioners/{practitioner_id}/availability", response=HoursOut, errors=(403, 404), scope="availability:read")
async def get_hours(call: Call[None]) -> HoursOut:
    """Your weekly hours, date overrides and upcoming time off."""
    practitioner_id = own_practitioner_id(call)
    p = await existing_profile(call, practitioner_id)
    db = call.runtime.db
    rules, overrides = await availability.hours(db, practitioner_id)
    now = scheduler(call).deps.clock.now()
    return _hours_out(p, rules, overrides, await availability.time_off_after(db, practitioner_id, now))


@routes.put(
    "/practitioners/{practitioner_id}/availability", body=HoursIn, response=HoursOut, errors=(403, 404, 422),
    scope="availability:write",
)
async def put_hours(call: Call[HoursIn]) -> HoursOut:
    """Replace your weekly hours and date overrides (in your profile's time zone). Existing bookings stay."""
    practitioner_id = own_practitioner_id(call)
    p = await existing_profile(call, practitioner_id)
    db = call.runtime.db
    rules = [WeeklyRule(WEEKDAYS.index(w.weekday) + 1, _minutes(w.start), _minutes(w.end)) for w in call.body.weekly]
    overrides = [
        DateOverride(o.date, None, None) if o.kind == "day_off"
        else DateOverride(o.date, _minutes(o.start or ""), _minutes(o.end or ""))
        for o in call.body.overrides
    ]
    await availability.replace_hours(db, practitioner_id, rules, overrides)
    rules, overrides = await availability.hours(db, practitioner_id)
    now = scheduler(call).deps.clock.now()
    return _hours_out(p, rules, overrides, await availability.time_off_after(db, practitioner_id, now))


@routes.post(
    "/practitioners/{practitioner_id}/time-off", body=TimeOffIn, response=TimeOffOut, status=201, errors=(403, 404, 422),
    scope="availability:write",
)
async def add_time_off(call: Call[TimeOffIn]) -> TimeOffOut:
    """Block a period (holiday, training). Bookings already in it stay; no new ones are offered."""
    practitioner_id = own_practitioner_id(call)
    await existing_profile(call, practitioner_id)
    added = await availability.add_time_off(call.runtime.db, practitioner_id, call.body.starts_at, call.body.ends_at)
    return TimeOffOut.model_validate(added)


@routes.delete(
    "/practitioners/{practitioner_id}/time-off/{time_off_id}", status=204, errors=(403, 404), scope="availability:write"
)
async def remove_time_off(call: Call[None]) -> None:
    """Remove a period of time off."""
    practitioner_id = own_practitioner_id(call)
    if not await availability.remove_time_off(call.runtime.db, practitioner_id, call.uuid("time_off_id")):
        raise NotFound("You have no time off with that id.")
