"""Practitioner profiles, offerings, open hours, time off, and the bookable slots of an offering.

Anyone signed in can read a profile and its slots; only the practitioner can
change their own. Times of day are "HH:MM" on the practitioner's wall clock
("24:00" ends a day); instants are ISO 8601 with an offset.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from typing_extensions import TypedDict

from scheduler.localtime import day_bounds
from scheduler.schedule import finder
from scheduler.vocabulary import Modality
from storage import availability, practitioners
from storage.availability import DateOverride, WeeklyRule
from storage.practitioners import Offering, Practitioner, Rules

from ..errors import NotFound, Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import TimeZone
from .scheduling import own_practitioner_id, scheduler

routes = RouteTable("practitioners")

CAPACITY = (
    "Places per session: 1 for a one-to-one offering; more for a class, whose clients book the same start and "
    "meet together. A video class holds at most KLEAR_RTC_MAX_PARTICIPANTS people, the practitioner included."
)

MAX_SLOT_RANGE = timedelta(days=42)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


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


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError("must be a language tag such as en, fr or pt-BR")
    return value


def _moment(value: object) -> datetime | dt.date:
    text = value if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise ValueError("must be a date (2027-03-14) or an instant with an offset (2027-03-14T09:00:00Z)")
    return instant.astimezone(UTC)


ClockTime = Annotated[str, StringConstraints(max_length=5), AfterValidator(_valid_clock)]
Moment = Annotated[
    datetime | dt.date, PlainValidator(_moment),
    WithJsonSchema({"type": "string", "examples": ["2027-03-14", "2027-03-14T09:00:00Z"]}),
]
Language = Annotated[str, StringConstraints(max_length=20), AfterValidator(_language)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class BookingRules(Input):
    """How this practitioner can be booked. Durations in minutes."""

    buffer_before_min: int = Field(0, ge=0, le=240, description="Kept free before each session.")
    buffer_after_min: int = Field(0, ge=0, le=240, description="Kept free after each session.")
    min_notice_min: int = Field(240, ge=0, le=43200, description="How soon before its start a session can be booked.")
    horizon_days: int = Field(90, ge=1, le=730, description="How far ahead sessions can be booked.")
    max_per_day: int | None = Field(None, ge=1, le=100, description="Sessions per local day; null for no limit.")
    slot_interval_min: int = Field(30, ge=5, le=240, description="Spacing of offered start times.")
    request_ttl_min: int = Field(1440, ge=5, le=20160, description="How long a request awaits an answer before it lapses.")


class ProfileIn(Input):
    bio: str = Field("", max_length=4000)
    modalities: list[Modality] = Field(default_factory=list, max_length=20)
    languages: list[Language] = Field(default_factory=list, max_length=20)
    time_zone: TimeZone | None = Field(None, description="IANA zone of the weekly hours. Default: the account's.")
    booking_rules: BookingRules = Field(default_factory=BookingRules)  # type: ignore[arg-type]


class OfferingIn(Input):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    duration_min: int = Field(ge=5, le=480)
    price_minor: int = Field(ge=0, le=100_000_000, description="Price in the currency's minor unit (cents).")
    currency: Currency = Field(description="ISO 4217 code, e.g. EUR.")
    mode: Literal["video", "in_person"]
    address: str | None = Field(None, min_length=1, max_length=500, description="Required for in_person.")
    needs_approval: bool = False
    late_cancel_min: int = Field(1440, ge=0, le=20160, description="Cancelling later than this before the start is late.")
    capacity: int = Field(1, ge=1, le=100, description=CAPACITY)

    @model_validator(mode="after")
    def _address_for_in_person(self) -> OfferingIn:
        if (self.mode == "in_person") != (self.address is not None):
            raise ValueError("in_person offerings need an address; video offerings take none")
        return self


class OfferingPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    duration_min: int | None = Field(None, ge=5, le=480)
    price_minor: int | None = Field(None, ge=0, le=100_000_000)
    currency: Currency | None = None
    needs_approval: bool | None = None
    late_cancel_min: int | None = Field(None, ge=0, le=20160)
    address: str | None = Field(None, min_length=1, max_length=500, description="Only for in_person offerings.")
    active: bool | None = Field(None, description="false archives the offering: no new bookings.")
    capacity: int | None = Field(None, ge=1, le=100, description="Places per session; existing bookings keep theirs.")


class OfferingOut(Output):
    id: uuid.UUID
    practitioner_id: uuid.UUID
    name: str
    description: str
    duration_min: int
    price_minor: int
    currency: str
    mode: Literal["video", "in_person"]
    address: str | None
    needs_approval: bool
    late_cancel_min: int
    active: bool
    capacity: int = Field(description=CAPACITY)


class ProfileOut(Output):
    id: uuid.UUID
    display_name: str
    bio: str
    modalities: list[str]
    languages: list[str]
    time_zone: str
    booking_rules: BookingRules
    offerings: list[OfferingOut]


class PractitionerList(Output):
    items: list[ProfileOut]
    next_after: uuid.UUID | None = Field(description="Pass as `after` for the next page; null at the end.")


class SearchQuery(QueryInput):
    modality: Modality | None = None
    language: Language | None = None
    limit: int = Field(20, ge=1, le=100)
    after: uuid.UUID | None = None


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
    date: dt.date
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
    starts_at: AwareDatetime
    ends_at: AwareDatetime

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


class SlotsQuery(QueryInput):
    offering: uuid.UUID
    start: Moment = Field(alias="from", description="An instant with offset, or a date (that day's start in `tz`).")
    end: Moment = Field(alias="to", description="An instant with offset (exclusive), or a date (that day's end in `tz`).")
    tz: TimeZone = Field(description="The viewer's IANA time zone: local times and dates use it.")


class SlotOut(TypedDict):
    """One bookable start. A plain mapping rather than a model: a month holds about a thousand of them."""

    start: Annotated[datetime, Field(description="UTC.")]
    end: Annotated[datetime, Field(description="UTC.")]
    local_start: Annotated[datetime, Field(description="The same instant in the viewer's time zone, with its offset.")]
    local_end: datetime
    places_left: Annotated[int, Field(description="Places still free at this start: the capacity minus its bookings.")]


class SlotsOut(Output):
    practitioner_id: uuid.UUID
    offering_id: uuid.UUID
    duration_min: int
    capacity: int = Field(description="Places per session of the offering (1: one-to-one).")
    time_zone: str = Field(description="The viewer's time zone, as asked.")
    practitioner_time_zone: str
    range_start: datetime = Field(description="The range asked for (`from`), as an instant.")
    range_end: datetime = Field(description="The end of the range (`to`), exclusive.")
    slots: list[SlotOut]


def offering_out(o: Offering) -> OfferingOut:
    return OfferingOut.model_validate(o)


def _profile_out(p: Practitioner, offerings: list[Offering]) -> ProfileOut:
    return ProfileOut(
        id=p.user_id, display_name=p.display_name, bio=p.bio, modalities=list(p.modalities),
        languages=list(p.languages), time_zone=p.time_zone,
        booking_rules=BookingRules.model_validate(p.rules, from_attributes=True),
        offerings=[offering_out(o) for o in offerings],
    )


async def _profile(call: Call[Any], practitioner_id: uuid.UUID) -> Practitioner:
    found = await practitioners.get(call.runtime.db, practitioner_id)
    if found is None:
        raise NotFound("No practitioner with that id.")
    return found


@routes.get("/practitioners", query=SearchQuery, response=PractitionerList, errors=(422,))
async def search(call: Call[None]) -> PractitionerList:
    """Find practitioners by modality and language."""
    q: SearchQuery = call.query
    db = call.runtime.db
    found = await practitioners.search(db, modality=q.modality, language=q.language, limit=q.limit, after=q.after)
    offerings = await practitioners.active_offerings_of_many(db, [p.user_id for p in found])
    items = [_profile_out(p, offerings.get(p.user_id, [])) for p in found]
    await call.audit("practitioner.search", subject_id=None, resource="practitioners")
    return PractitionerList(items=items, next_after=found[-1].user_id if len(found) == q.limit else None)


@routes.get("/practitioners/{practitioner_id}", response=ProfileOut, errors=(404,))
async def get_profile(call: Call[None]) -> ProfileOut:
    """A practitioner's profile with their current offerings."""
    practitioner_id = call.uuid("practitioner_id")
    p = await _profile(call, practitioner_id)
    mine = practitioner_id == call.principal.user_id
    offerings = await practitioners.offerings_of(call.runtime.db, practitioner_id, include_archived=mine)
    if not mine:
        await call.audit("practitioner.read", subject_id=practitioner_id, resource=f"practitioner:{practitioner_id}")
    return _profile_out(p, offerings)


@routes.put("/practitioners/{practitioner_id}", body=ProfileIn, response=ProfileOut, errors=(403, 422))
async def save_profile(call: Call[ProfileIn]) -> ProfileOut:
    """Create or replace your practitioner profile and booking rules."""
    practitioner_id = own_practitioner_id(call)
    body, db = call.body, call.runtime.db
    p = await practitioners.save_profile(
        db, practitioner_id, bio=body.bio, modalities=[m.value for m in dict.fromkeys(body.modalities)],
        languages=list(dict.fromkeys(body.languages)), time_zone=body.time_zone or call.principal.user.time_zone,
        rules=Rules(**body.booking_rules.model_dump()),
    )
    return _profile_out(p, await practitioners.offerings_of(db, practitioner_id, include_archived=True))


@routes.post(
    "/practitioners/{practitioner_id}/offerings", body=OfferingIn, response=OfferingOut, status=201, errors=(403, 404, 422)
)
async def create_offering(call: Call[OfferingIn]) -> OfferingOut:
    """Add an offering to your profile."""
    practitioner_id = own_practitioner_id(call)
    await _profile(call, practitioner_id)
    _check_capacity(call, call.body.mode, call.body.capacity)
    return offering_out(await practitioners.create_offering(call.runtime.db, practitioner_id, call.body.model_dump()))


def _check_capacity(call: Call[Any], mode: str, capacity: int) -> None:
    """A video class must fit in one video session with its practitioner."""
    most = call.runtime.settings.rtc.max_participants - 1
    if mode == "video" and capacity > most:
        raise Unprocessable(f"A video class has at most {most} places: its session holds {most + 1} people.", details=[
            {"loc": ["body", "capacity"], "message": f"at most {most} for a video offering", "type": "value_error"}
        ])


@routes.patch(
    "/practitioners/{practitioner_id}/offerings/{offering_id}", body=OfferingPatch, response=OfferingOut,
    errors=(403, 404, 422),
)
async def update_offering(call: Call[OfferingPatch]) -> OfferingOut:
    """Change or archive one of your offerings. Existing bookings keep the terms they were made on."""
    practitioner_id = own_practitioner_id(call)
    offering_id = call.uuid("offering_id")
    changes = call.body.model_dump(exclude_unset=True)
    if any(v is None for k, v in changes.items()):
        raise Unprocessable("Fields may be changed but not set to null.", details=[
            {"loc": ["body", k], "message": "must not be null", "type": "null"} for k, v in changes.items() if v is None
        ])
    db = call.runtime.db
    current = {o.id: o for o in await practitioners.offerings_of(db, practitioner_id, include_archived=True)}
    if offering_id not in current:
        raise NotFound("You have no offering with that id.")
    if "address" in changes and current[offering_id].mode != "in_person":
        raise Unprocessable("Only in_person offerings have an address.", details=[
            {"loc": ["body", "address"], "message": "video offerings take no address", "type": "value_error"}
        ])
    if "capacity" in changes:
        _check_capacity(call, current[offering_id].mode, changes["capacity"])
    updated = await practitioners.update_offering(db, practitioner_id, offering_id, changes)
    if updated is None:
        raise NotFound("You have no offering with that id.")
    return offering_out(updated)


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


@routes.get("/practitioners/{practitioner_id}/availability", response=HoursOut, errors=(403, 404))
async def get_hours(call: Call[None]) -> HoursOut:
    """Your weekly hours, date overrides and upcoming time off."""
    practitioner_id = own_practitioner_id(call)
    p = await _profile(call, practitioner_id)
    db = call.runtime.db
    rules, overrides = await availability.hours(db, practitioner_id)
    now = scheduler(call).deps.clock.now()
    return _hours_out(p, rules, overrides, await availability.time_off_after(db, practitioner_id, now))


@routes.put("/practitioners/{practitioner_id}/availability", body=HoursIn, response=HoursOut, errors=(403, 404, 422))
async def put_hours(call: Call[HoursIn]) -> HoursOut:
    """Replace your weekly hours and date overrides (in your profile's time zone). Existing bookings stay."""
    practitioner_id = own_practitioner_id(call)
    p = await _profile(call, practitioner_id)
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
    "/practitioners/{practitioner_id}/time-off", body=TimeOffIn, response=TimeOffOut, status=201, errors=(403, 404, 422)
)
async def add_time_off(call: Call[TimeOffIn]) -> TimeOffOut:
    """Block a period (holiday, training). Bookings already in it stay; no new ones are offered."""
    practitioner_id = own_practitioner_id(call)
    await _profile(call, practitioner_id)
    added = await availability.add_time_off(call.runtime.db, practitioner_id, call.body.starts_at, call.body.ends_at)
    return TimeOffOut.model_validate(added)


@routes.delete("/practitioners/{practitioner_id}/time-off/{time_off_id}", status=204, errors=(403, 404))
async def remove_time_off(call: Call[None]) -> None:
    """Remove a period of time off."""
    practitioner_id = own_practitioner_id(call)
    if not await availability.remove_time_off(call.runtime.db, practitioner_id, call.uuid("time_off_id")):
        raise NotFound("You have no time off with that id.")


def _range(q: SlotsQuery, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = q.start if isinstance(q.start, datetime) else day_bounds(q.start, tz)[0]
    end = q.end if isinstance(q.end, datetime) else day_bounds(q.end, tz)[1]
    if end <= start:
        raise Unprocessable("`to` must be after `from`.", code="invalid_range", details=[
            {"loc": ["query", "to"], "message": "must be after from", "type": "invalid_range"}
        ])
    if end - start > MAX_SLOT_RANGE:
        raise Unprocessable(f"Ask for at most {MAX_SLOT_RANGE.days} days of slots at a time.", code="range_too_long", details=[
            {"loc": ["query", "to"], "message": f"at most {MAX_SLOT_RANGE.days} days after from", "type": "range_too_long"}
        ])
    return start, end


@routes.get("/practitioners/{practitioner_id}/slots", query=SlotsQuery, response=SlotsOut, errors=(404, 422))
async def slots(call: Call[None]) -> SlotsOut:
    """Bookable start times of an offering, in UTC and in the viewer's time zone."""
    practitioner_id = call.uuid("practitioner_id")
    q: SlotsQuery = call.query
    viewer = ZoneInfo(q.tz)
    start, end = _range(q, viewer)
    snap = await availability.snapshot(
        call.runtime.db, practitioner_id=practitioner_id, offering_id=q.offering,
        first_day=(start - timedelta(days=2)).date(), last_day=(end + timedelta(days=1)).date(),
        span_from=start - timedelta(days=1), span_to=end + timedelta(days=1), with_held=True,
    )
    if snap is None:
        raise NotFound("No practitioner with that id.")
    offering = snap.offering
    if offering is None or not offering.active:
        raise Unprocessable("This practitioner has no bookable offering with that id.", code="unknown_offering", details=[
            {"loc": ["query", "offering"], "message": "not an offering of this practitioner", "type": "unknown_offering"}
        ])
    # The audit record is written (a commit) while the slots are computed; the answer waits for both.
    audited = None
    if practitioner_id != call.principal.user_id:
        audited = asyncio.ensure_future(
            call.audit("practitioner.slots", subject_id=practitioner_id, resource=f"practitioner:{practitioner_id}")
        )
    try:
        slot_finder = finder(snap, offering, scheduler(call).deps.clock.now())
        found = slot_finder.slots(start, end)
        length = timedelta(minutes=offering.duration_min)
        # Every value is built here from validated data, so the model is constructed without re-validation.
        answer = SlotsOut.model_construct(
            practitioner_id=practitioner_id, offering_id=offering.id, duration_min=offering.duration_min,
            capacity=offering.capacity, time_zone=q.tz, practitioner_time_zone=snap.practitioner.time_zone,
            range_start=start, range_end=end,
            slots=[
                SlotOut(start=s, end=s + length, local_start=s.astimezone(viewer), local_end=(s + length).astimezone(viewer),
                        places_left=slot_finder.places(s))
                for s in found
            ],
        )
    finally:
        if audited is not None:
            await audited
    return answer
