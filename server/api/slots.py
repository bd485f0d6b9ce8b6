"""The bookable start times of an offering, in UTC and in the viewer's time zone.

Anyone signed in can ask (asking about someone else's is audited). The range
is given as instants with an offset or as dates, which mean that day's start
or end in the viewer's zone; at most six weeks at a time keeps one answer cheap.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, PlainValidator, WithJsonSchema
from typing_extensions import TypedDict

from scheduler.localtime import day_bounds
from scheduler.schedule import finder
from storage import availability

from ..errors import NotFound, Unprocessable
from ..routing import Call, Output, QueryInput, RouteTable
from .fields import Instant, LocalTime, TimeZone, day, instant
from .scheduling import scheduler

routes = RouteTable("practitioners")

MAX_SLOT_RANGE = timedelta(days=42)


def _moment(value: object) -> datetime | dt.date:
    """A date or an instant, each within the supported years (fields.day and fields.instant)."""
    try:
        return day(value) if isinstance(value, str) and len(value) == 10 else instant(value)
    except ValueError as exc:
        if "between" in str(exc):
            raise
        raise ValueError("must be a date (2027-03-14) or an instant with an offset (2027-03-14T09:00:00Z)") from None


Moment = Annotated[
    datetime | dt.date, PlainValidator(_moment),
    WithJsonSchema({"type": "string", "examples": ["2027-03-14", "2027-03-14T09:00:00Z"]}),
]


class SlotsQuery(QueryInput):
    offering: uuid.UUID
    start: Moment = Field(alias="from", description="An instant with offset, or a date (that day's start in `tz`).")
    end: Moment = Field(alias="to", description="An instant with offset (exclusive), or a date (that day's end in `tz`).")
    tz: TimeZone = Field(description="The viewer's IANA time zone: local times and dates use it.")


class SlotOut(TypedDict):
    """One bookable start. A plain mapping rather than a model: a month holds about a thousand of them."""

    start: Annotated[Instant, Field(description="UTC.")]
    end: Annotated[Instant, Field(description="UTC.")]
    local_start: Annotated[LocalTime, Field(description="The same instant in the viewer's time zone, with its numeric offset.")]
    local_end: LocalTime
    places_left: Annotated[int, Field(description="Places still free at this start: the capacity minus its bookings.")]


class SlotsOut(Output):
    practitioner_id: uuid.UUID
    offering_id: uuid.UUID
    duration_min: int
    capacity: int = Field(description="Places per session of the offering (1: one-to-one).")
    time_zone: str = Field(description="The viewer's time zone, as asked.")
    practitioner_time_zone: str
    range_start: Instant = Field(description="The range asked for (`from`), as an instant.")
    range_end: Instant = Field(description="The end of the range (`to`), exclusive.")
    slots: list[SlotOut]


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


@routes.get("/practitioners/{practitioner_id}/slots", query=SlotsQuery, response=SlotsOut, errors=(404, 422), scope="availability:read")
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
