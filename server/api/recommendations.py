"""Recommendations ("practitioners like this one", "for you") and the blocks and reports that keep people out of
them. Logic in discovery/recommendations.py."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from discovery import recommendations as recommend
from storage import discovery, recommendations
from storage.recommendations import Pick

from ..errors import Conflict, Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Line
from .scheduling import existing_profile

routes = RouteTable("recommendations")


class PicksQuery(QueryInput):
    limit: int = Field(10, ge=1, le=50)


class Recommended(Output):
    id: uuid.UUID
    display_name: str
    photo_url: str | None
    place: str | None
    modalities: list[str]
    modes: list[str]
    verified: bool
    score: float = Field(description="How strongly recommended, in [0, 1], within its reason.")
    reason: Literal["booked_together", "similar_profile", "well_rated"] = Field(
        description="booked_together: booked by the same clients; similar_profile: shares modalities, languages, modes "
                    "or place; well_rated: the best ratings, for someone with no history yet.")


class Recommendations(Output):
    items: list[Recommended]


class ReportIn(Input):
    reason: Line = Field(min_length=1, max_length=500)


async def _out(call: Call[Any], picks: list[Pick]) -> Recommendations:
    found = await discovery.cards(call.runtime.db, [p.id for p in picks])
    await call.audit("practitioner.recommendations", subject_id=None, resource="practitioners")
    return Recommendations(items=[
        Recommended(id=p.id, display_name=c.display_name, photo_url=c.photo_url, place=c.place, modalities=c.modalities,
                    modes=c.modes, verified=c.verified, score=p.score, reason=p.reason)  # type: ignore[arg-type]
        for p in picks if (c := found.get(p.id)) is not None
    ])


@routes.get("/practitioners/{practitioner_id}/similar", query=PicksQuery, response=Recommendations, errors=(404, 422))
async def like_this(call: Call[None]) -> Recommendations:
    """Practitioners like this one: booked by the same clients, then with a similar profile."""
    practitioner_id = call.uuid("practitioner_id")
    await existing_profile(call, practitioner_id)
    picks = await recommend.like_this(call.runtime.db, practitioner_id, call.principal.user_id, call.query.limit)
    return await _out(call, picks)


@routes.get("/me/recommendations", query=PicksQuery, response=Recommendations, roles=("client",), errors=(403, 422))
async def for_you(call: Call[None]) -> Recommendations:
    """Practitioners for you, from your bookings (or the best rated while you have none)."""
    return await _out(call, await recommend.for_you(call.runtime.db, call.principal.user_id, call.query.limit))


def _other(call: Call[Any]) -> uuid.UUID:
    other = call.uuid("user_id")
    if other == call.principal.user_id:
        raise Unprocessable("You cannot do this to yourself.", details=[
            {"loc": ["path", "user_id"], "message": "is you", "type": "value_error"}])
    return other


@routes.put("/me/blocked/{user_id}", status=204, errors=(404, 422))
async def block(call: Call[None]) -> None:
    """Block someone: they are never recommended to you."""
    await recommendations.block(call.runtime.db, call.principal.user_id, _other(call))


@routes.delete("/me/blocked/{user_id}", status=204, errors=(404, 422))
async def unblock(call: Call[None]) -> None:
    """Unblock someone."""
    await recommendations.unblock(call.runtime.db, call.principal.user_id, _other(call))


@routes.post("/users/{user_id}/reports", body=ReportIn, status=202, errors=(404, 409, 422))
async def report(call: Call[ReportIn]) -> None:
    """Report an account as abusive; it is never recommended to you again."""
    if not await recommendations.report(call.runtime.db, call.principal.user_id, _other(call), call.body.reason):
        raise Conflict("You have already reported this account.", code="already_reported")

