"""What a practitioner offers: name, length, price, mode and places per session.

Only the practitioner changes their own offerings. Archiving (`active: false`)
stops new bookings; bookings already made keep the terms they were made on.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from storage import practitioners
from storage.practitioners import Offering

from ..appkeys import AVAILABLE_NOW
from ..errors import Conflict, NotFound, Unprocessable
from ..routing import Call, Input, Output, RouteTable
from .fields import Line, Text
from .scheduling import existing_profile, own_practitioner_id

routes = RouteTable("practitioners")

CAPACITY = (
    "Places per session: 1 for a one-to-one offering; more for a class, whose clients book the same start and "
    "meet together. A video class holds at most KLEAR_RTC_MAX_PARTICIPANTS people, the practitioner included."
)

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class OfferingIn(Input):
    name: Line = Field(min_length=1, max_length=120)
    description: Text = Field("", max_length=2000)
    duration_min: int = Field(ge=5, le=480)
    price_minor: int = Field(ge=0, le=100_000_000, description="Price in the currency's minor unit (cents).")
    currency: Currency = Field(description="ISO 4217 code, e.g. EUR.")
    mode: Literal["video", "in_person"]
    address: Text | None = Field(None, min_length=1, max_length=500, description="Required for in_person.")
    needs_approval: bool = False
    late_cancel_min: int = Field(1440, ge=0, le=20160, description="Cancelling later than this before the start is late.")
    capacity: int = Field(1, ge=1, le=100, description=CAPACITY)

    @model_validator(mode="after")
    def _address_for_in_person(self) -> OfferingIn:
        if (self.mode == "in_person") != (self.address is not None):
            raise ValueError("in_person offerings need an address; video offerings take none")
        return self


class OfferingPatch(Input):
    name: Line | None = Field(None, min_length=1, max_length=120)
    description: Text | None = Field(None, max_length=2000)
    duration_min: int | None = Field(None, ge=5, le=480)
    price_minor: int | None = Field(None, ge=0, le=100_000_000)
    currency: Currency | None = None
    needs_approval: bool | None = None
    late_cancel_min: int | None = Field(None, ge=0, le=20160)
    address: Text | None = Field(None, min_length=1, max_length=500, description="Only for in_person offerings.")
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


def offering_out(o: Offering) -> OfferingOut:
    return OfferingOut.model_validate(o)


@routes.post(
    "/practitioners/{practitioner_id}/offerings", body=OfferingIn, response=OfferingOut, status=201,
    errors=(403, 404, 409, 422),
)
async def create_offering(call: Call[OfferingIn]) -> OfferingOut:
    """Add an offering to your profile."""
    practitioner_id = own_practitioner_id(call)
    await existing_profile(call, practitioner_id)
    _check_capacity(call, call.body.mode, call.body.capacity)
    active = await practitioners.offerings_of(call.runtime.db, practitioner_id, include_archived=False)
    _check_room(call, len(active))
    created = await practitioners.create_offering(call.runtime.db, practitioner_id, call.body.model_dump())
    await call.request.app[AVAILABLE_NOW].changed(practitioner_id)  # accepting bookings is part of the marker
    return offering_out(created)


def _check_capacity(call: Call[Any], mode: str, capacity: int) -> None:
    """A video class must fit in one video session with its practitioner."""
    most = call.runtime.settings.rtc.max_participants - 1
    if mode == "video" and capacity > most:
        raise Unprocessable(f"A video class has at most {most} places: its session holds {most + 1} people.", details=[
            {"loc": ["body", "capacity"], "message": f"at most {most} for a video offering", "type": "value_error"}
        ])


def _check_room(call: Call[Any], active: int) -> None:
    """One more active offering must stay within KLEAR_MAX_OFFERINGS, so a profile and every listing stay small."""
    most = call.runtime.settings.scheduler.max_offerings
    if active >= most:
        raise Conflict(
            f"You have {most} active offerings, the most allowed; archive one (active: false) to add another.",
            code="too_many_offerings", details=[{"limit": most}],
        )


@routes.patch(
    "/practitioners/{practitioner_id}/offerings/{offering_id}", body=OfferingPatch, response=OfferingOut,
    errors=(403, 404, 409, 422),
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
    if changes.get("active") and not current[offering_id].active:
        _check_room(call, sum(o.active for o in current.values()))
    updated = await practitioners.update_offering(db, practitioner_id, offering_id, changes)
    if updated is None:
        raise NotFound("You have no offering with that id.")
    await call.request.app[AVAILABLE_NOW].changed(practitioner_id)
    return offering_out(updated)
