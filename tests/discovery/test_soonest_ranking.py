"""Ranking by the soonest free slot orders the whole result, from a recorded first free slot that follows bookings,
their cancellation and the passing of time, while the free-slot filter stays the slot finder's."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from discovery.ranking import soonest_factor

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY
from .conftest import first_free_recorded, listed

pytestmark = pytest.mark.quick


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _pages(c, **query) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        page = await c.search(cursor=cursor, explain=True, **query)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_a_practitioner_free_much_sooner_ranks_on_an_earlier_page_and_paging_shows_each_match_once(app, clients):
    later = [await listed(clients(app.url), f"Later {i}", modalities=["reiki"], rules={"min_notice_min": 3 * 1440})
             for i in range(5)]
    sooner = await listed(clients(app.url), "Sooner", modalities=["reiki"])
    await first_free_recorded(app)
    c = await signed_up(clients(app.url))
    pages = await _pages(c, modality="reiki", free_within_days=7, limit=1)
    shown = [hit["id"] for page in pages for hit in page]
    assert shown[0] == sooner.id  # first of six, whatever its id: before the change it ranked only within its page
    assert sorted(shown) == sorted([sooner.id, *(p.id for p in later)])  # every match exactly once
    assert shown[1:] == sorted(p.id for p in later)  # equal factors: ties break by id
    as_of = _instant((await c.search(modality="reiki", free_within_days=7, limit=1))["as_of"])
    for page in pages:
        e = page[0]["explain"]
        assert e["ranked_free_slot"] == page[0]["next_free_slot"]  # recorded and exact agree: nothing changed since
        assert e["soonest"] == pytest.approx(soonest_factor(_instant(e["ranked_free_slot"]), as_of), abs=0.01)


async def test_the_recorded_first_free_slot_follows_a_booking_its_cancellation_and_time(app, clients):
    p = await listed(clients(app.url), "Busy Bee", modalities=["qigong"], weekly=ALL_DAY)
    await first_free_recorded(app)
    c = await signed_up(clients(app.url))

    async def ranked() -> tuple[str, str]:
        hit = (await c.search(modality="qigong", free_within_days=7, explain=True))["items"][0]
        return hit["explain"]["ranked_free_slot"], hit["next_free_slot"]

    first, exact = await ranked()
    assert first == exact
    booked = await c.book(p.offering_id, first)
    await first_free_recorded(app)
    moved, exact = await ranked()
    assert _instant(moved) > _instant(first) and moved == exact  # the booked slot is taken: the next one
    await c.booking_action(booked["id"], "cancel")
    await first_free_recorded(app)
    assert await ranked() == (first, first)  # free again
    await app.clock.set(_instant(first) + timedelta(minutes=1))  # the slot's time has passed
    await first_free_recorded(app)
    later, exact = await ranked()
    assert _instant(later) > _instant(first) and later == exact
