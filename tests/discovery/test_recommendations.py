"""Recommendations: booked together (from a durable job over booking history), a content-based fallback for new
practitioners and clients, and never anyone the client blocked or reported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..conftest import signed_up
from ..support.eventually import eventually
from .conftest import listed

pytestmark = pytest.mark.quick


async def _book(app, client, p) -> None:
    day = (app.clock.now() + timedelta(days=2)).date().isoformat()
    slots = (await client.slots(p.id, p.offering_id, day, day, "UTC"))["slots"]
    await client.book(p.offering_id, slots[0]["start"])


async def test_booked_together_then_alike_and_never_the_blocked_or_reported(app, clients):
    a = await listed(clients(app.url), "Anna Acu", modalities=["acupuncture"], languages=["en"])
    b = await listed(clients(app.url), "Ben Herbs", modalities=["herbalism"], languages=["en"])
    c = await listed(clients(app.url), "Cara Acu", modalities=["acupuncture"], languages=["en"])  # new: no bookings
    d = await listed(clients(app.url), "Dan Yoga", modalities=["yoga"], languages=["fr"])
    regulars = [await signed_up(clients(app.url)) for _ in range(3)]
    for client in regulars:
        await _book(app, client, a)
        await _book(app, client, b)
    await _book(app, regulars[0], d)
    newcomer = await signed_up(clients(app.url))
    await _book(app, newcomer, a)

    await app.clock.advance(timedelta(hours=1))  # the next hourly run of recommendations.compute falls due

    async def computed() -> list[dict]:
        items = (await newcomer.similar_practitioners(a.id))["items"]
        assert items and items[0]["id"] == b.id and items[0]["reason"] == "booked_together"
        return items

    items = await eventually(computed)
    assert [(x["id"], x["reason"]) for x in items[:3]] == [
        (b.id, "booked_together"), (d.id, "booked_together"), (c.id, "similar_profile")]
    assert items[0]["score"] > items[1]["score"]  # three shared clients against one
    # A new practitioner has no booking neighbours: the profile decides.
    alike = (await newcomer.similar_practitioners(c.id))["items"]
    assert alike[0] == {**alike[0], "id": a.id, "reason": "similar_profile"}

    mine = (await newcomer.recommendations())["items"]
    assert [x["id"] for x in mine][:2] == [b.id, d.id] and a.id not in [x["id"] for x in mine]
    fresh = await signed_up(clients(app.url))
    assert {x["reason"] for x in (await fresh.recommendations())["items"]} == {"well_rated"}

    await newcomer.block(b.id)
    await newcomer.report_user(d.id, "Spam in messages.")
    assert not {b.id, d.id} & {x["id"] for x in (await newcomer.recommendations(limit=50))["items"]}
    assert not {b.id, d.id} & {x["id"] for x in (await newcomer.similar_practitioners(a.id, limit=50))["items"]}
    assert b.id in {x["id"] for x in (await regulars[1].similar_practitioners(a.id))["items"]}  # only for them
    await newcomer.unblock(b.id)
    assert b.id in {x["id"] for x in (await newcomer.recommendations())["items"]}
