"""Practitioner profiles: bio, modalities, languages, time zone and booking rules, with the offerings.

Anyone signed in can search and read profiles (reading someone else's is
audited); only the practitioner creates or replaces their own.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from scheduler.vocabulary import Modality
from storage import practitioners
from storage.practitioners import Location, Offering, Practitioner, Rules

from ..appkeys import AVAILABLE_NOW
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Line, Text, TimeZone
from .offerings import OfferingOut, offering_out
from .scheduling import existing_profile, own_practitioner_id

routes = RouteTable("practitioners")

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError("must be a language tag such as en, fr or pt-BR")
    return value


Language = Annotated[
    str, StringConstraints(max_length=20), AfterValidator(_language), Field(json_schema_extra={"pattern": _LANGUAGE.pattern})
]


class BookingRules(Input):
    """How this practitioner can be booked. Durations in minutes."""

    buffer_before_min: int = Field(0, ge=0, le=240, description="Kept free before each session.")
    buffer_after_min: int = Field(0, ge=0, le=240, description="Kept free after each session.")
    min_notice_min: int = Field(240, ge=0, le=43200, description="How soon before its start a session can be booked.")
    horizon_days: int = Field(90, ge=1, le=730, description="How far ahead sessions can be booked.")
    max_per_day: int | None = Field(None, ge=1, le=100, description="Sessions per local day; null for no limit.")
    slot_interval_min: int = Field(30, ge=5, le=240, description="Spacing of offered start times.")
    request_ttl_min: int = Field(1440, ge=5, le=20160, description="How long a request awaits an answer before it lapses.")


class LocationIn(Input):
    """Where the practitioner sees clients in person; search measures distances from it."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    place: Line = Field(min_length=1, max_length=120, description="The place's name shown to clients, e.g. Leeds.")


class LocationOut(Output):
    latitude: float
    longitude: float
    place: str


SHOW_AVAILABLE_NOW = (
    "Show clients an \"available now\" marker on your profile and in search results while you are online (not away), "
    "accept bookings and are not in a session. Off (the default): it is never shown and your presence is not read for it."
)

PhotoUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[!-~]+$")]  # printable ASCII


class ProfileIn(Input):
    bio: Text = Field("", max_length=4000)
    modalities: list[Modality] = Field(default_factory=list, max_length=20)
    languages: list[Language] = Field(default_factory=list, max_length=20)
    time_zone: TimeZone | None = Field(None, description="IANA zone of the weekly hours. Default: the account's.")
    booking_rules: BookingRules = Field(default_factory=BookingRules)  # type: ignore[arg-type]
    location: LocationIn | None = Field(None, description="Needed to be found by distance.")
    photo_url: PhotoUrl | None = Field(None, description="An https URL of the practitioner's photo.")
    show_available_now: bool = Field(False, description=SHOW_AVAILABLE_NOW)


class ProfileOut(Output):
    id: uuid.UUID
    display_name: str
    bio: str
    modalities: list[str]
    languages: list[str]
    time_zone: str
    booking_rules: BookingRules
    offerings: list[OfferingOut]
    location: LocationOut | None
    photo_url: str | None
    show_available_now: bool = Field(description=SHOW_AVAILABLE_NOW)


class PractitionerList(Output):
    items: list[ProfileOut]
    next_after: uuid.UUID | None = Field(description="Pass as `after` for the next page; null at the end.")


class SearchQuery(QueryInput):
    modality: Modality | None = None
    language: Language | None = None
    limit: int = Field(20, ge=1, le=100)
    after: uuid.UUID | None = None


def _profile_out(p: Practitioner, offerings: list[Offering]) -> ProfileOut:
    return ProfileOut(
        id=p.user_id, display_name=p.display_name, bio=p.bio, modalities=list(p.modalities),
        languages=list(p.languages), time_zone=p.time_zone,
        booking_rules=BookingRules.model_validate(p.rules, from_attributes=True),
        offerings=[offering_out(o) for o in offerings],
        location=None if p.location is None else LocationOut.model_validate(p.location),
        photo_url=p.photo_url, show_available_now=p.show_available_now,
    )


@routes.get("/practitioners", query=SearchQuery, response=PractitionerList, errors=(422,), scope="profile:read")
async def search(call: Call[None]) -> PractitionerList:
    """Find practitioners by modality and language."""
    q: SearchQuery = call.query
    db = call.runtime.db
    found = await practitioners.search(db, modality=q.modality, language=q.language, limit=q.limit, after=q.after)
    offerings = await practitioners.active_offerings_of_many(db, [p.user_id for p in found])
    items = [_profile_out(p, offerings.get(p.user_id, [])) for p in found]
    await call.audit("practitioner.search", subject_id=None, resource="practitioners")
    return PractitionerList(items=items, next_after=found[-1].user_id if len(found) == q.limit else None)


@routes.get("/practitioners/{practitioner_id}", response=ProfileOut, errors=(404,), scope="profile:read")
async def get_profile(call: Call[None]) -> ProfileOut:
    """A practitioner's profile with their current offerings."""
    practitioner_id = call.uuid("practitioner_id")
    p = await existing_profile(call, practitioner_id)
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
        location=None if body.location is None else Location(**body.location.model_dump()), photo_url=body.photo_url,
        show_available_now=body.show_available_now,
    )
    await call.request.app[AVAILABLE_NOW].changed(practitioner_id)
    return _profile_out(p, await practitioners.offerings_of(db, practitioner_id, include_archived=True))
