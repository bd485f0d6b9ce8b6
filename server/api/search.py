"""`GET /search/practitioners`: text with typo tolerance, filters, distance, free slots, ranking with explain.

Validation is here (what a bad request is); the search itself is
discovery/search.py and its SQL storage/discovery.py. Anyone signed in may
search; the results show only what a public profile shows.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from discovery import ranking
from discovery import search as discovery
from discovery.search import Page, Result
from scheduler import openings
from scheduler.vocabulary import Modality
from storage import discovery as store
from storage.discovery import Filters

from ..appkeys import AVAILABLE_NOW
from ..errors import Unprocessable
from ..routing import Call, Output, QueryInput, RouteTable
from .fields import Instant, Line
from .offerings import Currency
from .profiles import Language
from .scheduling import scheduler

routes = RouteTable("search")


class SearchQuery(QueryInput):
    q: Line | None = Field(None, max_length=200, description="Words to find in names, modalities, offerings, places and bios; typos are corrected.")
    lang: Language = Field("en", description="Language of the query's words, for stemming (en, fr, de, es, ...).")
    modality: Modality | None = None
    language: Language | None = Field(None, description="A language the practitioner speaks.")
    mode: Literal["video", "in_person"] | None = Field(None, description="Has an active offering in this mode.")
    price_min: int | None = Field(None, ge=0, le=100_000_000, description="Minor units; an offering costs at least this.")
    price_max: int | None = Field(None, ge=0, le=100_000_000, description="Minor units; an offering costs at most this.")
    currency: Currency | None = Field(None, description="The offering's currency (ISO 4217).")
    min_rating: float | None = Field(None, ge=1, le=5, description="Average of visible reviews at least this.")
    verified: bool = Field(False, description="Only practitioners with a verified, unexpired credential.")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude of the point distances are measured from.")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude of that point.")
    radius_km: float | None = Field(None, gt=0, le=1000, description="Only in-person practitioners within this distance of the point.")
    free_within_days: int | None = Field(None, ge=1, le=42, description="Only practitioners with a bookable slot within this many days.")
    explain: bool = Field(False, description="Show each ranking factor of each result.")
    limit: int = Field(20, ge=1, le=50)
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")


class Explain(Output):
    text: float = Field(description="Text relevance in [0, 1].")
    distance: float = Field(description="1 / (1 + km / 10); 0 without a point.")
    rating: float = Field(description="Bayesian average / 5.")
    soonest: float = Field(description="1 / (1 + hours from as_of to ranked_free_slot / 24); 0 without free_within_days "
                                       "or a recorded slot.")
    ranked_free_slot: Instant | None = Field(description=(
        "The first free slot (of any active offering) recorded for ranking, as it stood at as_of; null without "
        "free_within_days or when none is recorded. next_free_slot is the exact one for this search's filters."))
    weights: dict[str, float]
    score: float


class Rating(Output):
    average: float | None = Field(description="Plain average of visible reviews; null without any.")
    count: int
    bayesian: float = Field(description="The average pulled towards 4.0 by 5 imaginary reviews, used for ranking.")


class Price(Output):
    price_minor: int
    currency: str


AVAILABLE_NOW_FIELD = (
    "Whether the practitioner is available now: they chose to show it, are online, accept bookings and are not in a "
    "session. Never true for one who did not choose it. Watch a list's changes over Socket.IO (available:watch)."
)


class SearchHit(Output):
    id: uuid.UUID
    display_name: str
    photo_url: str | None
    place: str | None
    modalities: list[str]
    languages: list[str]
    modes: list[str]
    verified: bool
    from_price: Price | None = Field(description="The cheapest active offering.")
    distance_km: float | None = Field(description="Great-circle distance from the point; null without a point or location.")
    rating: Rating
    next_free_slot: Instant | None = Field(description="Only computed with free_within_days.")
    available_now: bool = Field(description=AVAILABLE_NOW_FIELD)
    explain: Explain | None = None


class SearchPage(Output):
    items: list[SearchHit]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")
    corrections: dict[str, list[str]] = Field(description="Each corrected query word and the words also searched for.")
    as_of: Instant = Field(description="The instant free slots are measured from; the same on every page.")


def _refuse(field: str, message: str, *, code: str) -> Unprocessable:
    return Unprocessable(message, code=code, details=[{"loc": ["query", field], "message": message, "type": code}])


def filters_of(q: SearchQuery) -> Filters:
    """The storage filters of a valid query; refuses combinations no search can answer."""
    if (q.lat is None) != (q.lon is None):
        raise _refuse("lon" if q.lon is None else "lat", "Give both lat and lon, or neither.", code="incomplete_point")
    if q.radius_km is not None and q.lat is None:
        raise _refuse("radius_km", "A radius needs a point: give lat and lon too.", code="radius_without_point")
    if q.price_min is not None and q.price_max is not None and q.price_min > q.price_max:
        raise _refuse("price_max", "price_max must not be below price_min.", code="invalid_price_range")
    if q.radius_km is not None and q.mode == "video":
        raise _refuse("mode", "A radius finds in-person practitioners; leave out mode=video.", code="radius_needs_in_person")
    box = None
    if q.radius_km is not None and q.lat is not None and q.lon is not None:
        b = ranking.bounding_box(q.lat, q.lon, q.radius_km)
        box = (b.lat_min, b.lat_max, b.lon_min, b.lon_max)
    return Filters(
        groups=None, config=q.lang, modality=q.modality, language=q.language,
        mode="in_person" if q.radius_km is not None else q.mode, price_min=q.price_min, price_max=q.price_max,
        currency=q.currency, min_rating=q.min_rating, verified_only=q.verified, latitude=q.lat, longitude=q.lon,
        radius_km=q.radius_km, box=box,
    )


def soonest_for(call: Call[Any], now: datetime) -> discovery.Soonest:
    """The booking's slot rules, as search asks them (scheduler/openings.py)."""
    return functools.partial(openings.soonest_free, call.runtime.db, now=now)


@routes.get("/search/practitioners", query=SearchQuery, response=SearchPage, errors=(422,))
async def search(call: Call[None]) -> SearchPage:
    """Find practitioners: words (typos corrected), filters, distance, free slots; ranked, with explain."""
    q: SearchQuery = call.query
    db = call.runtime.db
    now = scheduler(call).deps.clock.now()
    request = discovery.Request(
        text=q.q, filters=filters_of(q), limit=q.limit, cursor=q.cursor,
        free_within=None if q.free_within_days is None else timedelta(days=q.free_within_days),
    )
    # The audit record (a commit) is written while the search runs; the answer waits for both.
    audited = asyncio.ensure_future(call.audit("practitioner.search", subject_id=None, resource="practitioners"))
    try:
        page = await discovery.search(db, request, soonest=soonest_for(call, now), now=now)
        return await _page_out(call, page, explain=q.explain)
    finally:
        await audited


async def _page_out(call: Call[Any], page: Page, *, explain: bool) -> SearchPage:
    ids = [r.candidate.id for r in page.results]
    found, available = await asyncio.gather(store.cards(call.runtime.db, ids),
                                            call.request.app[AVAILABLE_NOW].current(ids))
    items = [_hit(r, found[r.candidate.id], available[r.candidate.id], explain)
             for r in page.results if r.candidate.id in found]
    return SearchPage(items=items, next_cursor=page.next_cursor, corrections=page.corrections, as_of=page.now)


def _hit(r: Result, card: store.Card, available_now: bool, explain: bool) -> SearchHit:
    c = r.candidate
    return SearchHit(
        id=c.id, display_name=card.display_name, photo_url=card.photo_url, place=card.place, modalities=card.modalities,
        languages=card.languages, modes=card.modes, verified=card.verified,
        from_price=Price(price_minor=card.prices[0][0], currency=card.prices[0][1]) if card.prices else None,
        distance_km=None if c.distance_km is None else round(c.distance_km, 3),
        rating=Rating(average=c.rating_average, count=c.rating_count, bayesian=c.rating * 5),
        next_free_slot=r.next_free, available_now=available_now,
        explain=Explain(
            text=c.text, distance=c.distance, rating=c.rating, soonest=c.soonest, ranked_free_slot=c.free_at, score=c.score,
            weights={"text": ranking.TEXT, "distance": ranking.DISTANCE, "rating": ranking.RATING, "soonest": ranking.SOONEST},
        ) if explain else None,
    )
