"""`GET /practitioners/{id}/profile`: everything a client needs to decide, in one answer.

Photo, bio, modalities, languages, where (a place, or video only), the active
offerings with prices and whether each needs approval, verified credentials,
the rating and the latest visible reviews, and the next free slot by the
booking's own rules (within the next 42 days). Reading someone else's is
audited, as `GET /practitioners/{id}` is.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import Field

from discovery import ranking
from storage import credentials, discovery, practitioners, reviews

from ..appkeys import AVAILABLE_NOW
from ..routing import Call, Output, RouteTable
from .credentials import CredentialOut, credential_out
from .fields import Instant
from .offerings import OfferingOut, offering_out
from .profiles import LocationOut
from .reviews import ReviewOut, review_cursor, review_out
from .scheduling import existing_profile, scheduler
from .search import AVAILABLE_NOW_FIELD, Rating, soonest_for

routes = RouteTable("practitioners")

NEXT_SLOT_WITHIN = timedelta(days=42)
REVIEWS_SHOWN = 5


class PublicProfile(Output):
    id: uuid.UUID
    display_name: str
    photo_url: str | None
    bio: str
    modalities: list[str]
    languages: list[str]
    time_zone: str
    location: LocationOut | None = Field(description="Where in-person sessions happen; null for video only.")
    modes: list[str] = Field(description="Modes of the active offerings.")
    offerings: list[OfferingOut]
    needs_approval: bool = Field(description="Whether some offering's requests wait for the practitioner's approval.")
    verified: bool
    credentials: list[CredentialOut] = Field(description="Verified credentials.")
    rating: Rating
    reviews: list[ReviewOut] = Field(description=f"The latest {REVIEWS_SHOWN} visible reviews.")
    reviews_cursor: str | None = Field(description="Continue with GET /practitioners/{id}/reviews?cursor=...")
    next_free_slot: Instant | None = Field(description="The first bookable start of any offering in the next 42 days.")
    available_now: bool = Field(description=AVAILABLE_NOW_FIELD)
    as_of: Instant


@routes.get("/practitioners/{practitioner_id}/profile", response=PublicProfile, errors=(404,))
async def public_profile(call: Call[None]) -> PublicProfile:
    """A practitioner's public profile: offerings, credentials, rating and reviews, next free slot."""
    practitioner_id = call.uuid("practitioner_id")
    p = await existing_profile(call, practitioner_id)
    db = call.runtime.db
    now: datetime = scheduler(call).deps.clock.now()
    offerings = await practitioners.offerings_of(db, practitioner_id, include_archived=False)
    standing = await discovery.standing(db, practitioner_id)
    shown = await credentials.of_practitioner(db, practitioner_id, verified_only=True)
    latest = await reviews.visible_of(db, practitioner_id, limit=REVIEWS_SHOWN + 1, before=None)
    free = await soonest_for(call, now)([practitioner_id], lambda o: True, now, now + NEXT_SLOT_WITHIN)
    available = await call.request.app[AVAILABLE_NOW].current([practitioner_id])
    if practitioner_id != call.principal.user_id:
        await call.audit("practitioner.read", subject_id=practitioner_id, resource=f"practitioner:{practitioner_id}")
    count, total = standing.rating_count, standing.rating_sum
    return PublicProfile(
        id=p.user_id, display_name=p.display_name, photo_url=p.photo_url, bio=p.bio, modalities=list(p.modalities),
        languages=list(p.languages), time_zone=p.time_zone,
        location=None if p.location is None else LocationOut.model_validate(p.location),
        modes=sorted({o.mode for o in offerings}), offerings=[offering_out(o) for o in offerings],
        needs_approval=any(o.needs_approval for o in offerings), verified=standing.verified,
        credentials=[credential_out(c, full=False) for c in shown],
        rating=Rating(average=total / count if count else None, count=count, bayesian=ranking.bayesian_rating(count, total)),
        reviews=[review_out(r) for r in latest[:REVIEWS_SHOWN]],
        reviews_cursor=review_cursor(latest[REVIEWS_SHOWN - 1]) if len(latest) > REVIEWS_SHOWN else None,
        next_free_slot=free.get(practitioner_id), available_now=available[practitioner_id], as_of=now,
    )
