"""Recommendations: "practitioners like this one" and "for you".

Collaborative first: practitioners booked by the same clients
(item-to-item similarity, computed by the durable job `recommendations.compute`
from booking history). A new practitioner has no such neighbours and a new
client no history, so the list is filled content-based: practitioners
sharing modalities, languages, modes and places with the one asked about (or
with those the client booked), and for a client with no history at all, the
best rated. Nobody the viewer blocked or reported is ever shown.
"""

from __future__ import annotations

import uuid

from storage import discovery, recommendations
from storage.database import Database
from storage.errors import NotFound
from storage.recommendations import Pick


def _merge(*lists: list[Pick], limit: int) -> list[Pick]:
    seen: set[uuid.UUID] = set()
    out: list[Pick] = []
    for picks in lists:
        for pick in picks:
            if pick.id not in seen:
                seen.add(pick.id)
                out.append(pick)
    return out[:limit]


async def like_this(db: Database, practitioner_id: uuid.UUID, viewer: uuid.UUID, limit: int) -> list[Pick]:
    """Practitioners like `practitioner_id`, for `viewer`."""
    source = (await discovery.cards(db, [practitioner_id])).get(practitioner_id)
    if source is None:
        raise NotFound("practitioner")
    booked_together = await recommendations.similar_by_bookings(db, practitioner_id, viewer, limit)
    if len(booked_together) >= limit:
        return booked_together
    alike = await recommendations.similar_by_profile(
        db, modalities=source.modalities, languages=source.languages, modes=source.modes,
        places=[source.place] if source.place else [], viewer=viewer, exclude=[practitioner_id], limit=limit,
    )
    return _merge(booked_together, alike, limit=limit)


async def for_you(db: Database, client_id: uuid.UUID, limit: int) -> list[Pick]:
    """Practitioners a client has not booked yet and may like."""
    taste = await recommendations.taste(db, client_id)
    if not taste.booked:
        return await recommendations.well_rated(db, client_id, [], limit)
    booked_together = await recommendations.for_client_by_bookings(db, client_id, taste.booked, limit)
    if len(booked_together) >= limit:
        return booked_together
    alike = await recommendations.similar_by_profile(
        db, modalities=taste.modalities, languages=taste.languages, modes=taste.modes, places=taste.places,
        viewer=client_id, exclude=taste.booked, limit=limit,
    )
    return _merge(booked_together, alike, limit=limit)
