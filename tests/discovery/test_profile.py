"""The public profile holds what a client needs to decide, and a practitioner's location is part of their profile."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from klear_client import ApiError

from ..conftest import signed_up
from .conftest import listed

pytestmark = pytest.mark.quick


async def test_the_public_profile_shows_everything_a_client_needs(app, clients):
    p = await listed(clients(app.url), "Hana Whole", modalities=["acupuncture", "herbalism"], languages=["pl", "en"],
                     bio="Twenty years of practice.", location=(53.8008, -1.5491, "Leeds"),
                     offering={"mode": "in_person", "address": "1 Park Row, Leeds", "price_minor": 6000,
                               "needs_approval": True})
    await p.client.save_practitioner_profile(
        p.id, bio="Twenty years of practice.", modalities=["acupuncture", "herbalism"], languages=["pl", "en"],
        time_zone="Europe/London", booking_rules={"min_notice_min": 0, "horizon_days": 730},
        location={"latitude": 53.8008, "longitude": -1.5491, "place": "Leeds"}, photo_url="https://example.org/hana.jpg",
    )
    reader = await signed_up(clients(app.url))
    profile = await reader.public_profile(p.id)
    assert profile["display_name"] == "Hana Whole" and profile["photo_url"] == "https://example.org/hana.jpg"
    assert profile["bio"] == "Twenty years of practice." and profile["languages"] == ["pl", "en"]
    assert profile["modalities"] == ["acupuncture", "herbalism"]
    assert profile["location"] == {"latitude": 53.8008, "longitude": -1.5491, "place": "Leeds"}
    assert profile["modes"] == ["in_person"] and profile["needs_approval"] is True
    assert [(o["price_minor"], o["currency"]) for o in profile["offerings"]] == [(6000, "GBP")]
    assert profile["rating"] == {"average": None, "count": 0, "bayesian": 4.0}
    assert profile["reviews"] == [] and profile["credentials"] == [] and profile["verified"] is False
    start = datetime.fromisoformat(profile["as_of"].replace("Z", "+00:00"))
    end = (start + timedelta(days=42)).isoformat().replace("+00:00", "Z")
    slots = await reader.slots(p.id, p.offering_id, profile["as_of"], end, "UTC")
    assert profile["next_free_slot"] == slots["slots"][0]["start"]  # the booking's own slot rules
    assert (await reader.practitioner(p.id))["location"]["place"] == "Leeds"
    hit = (await reader.search("Leeds"))["items"]
    assert [h["id"] for h in hit] == [p.id] and hit[0]["place"] == "Leeds"


async def test_a_location_must_be_a_real_point(app, clients):
    p = await listed(clients(app.url), "Ivo Nowhere", modalities=["yoga"])
    for location in ({"latitude": 91, "longitude": 0, "place": "X"}, {"latitude": 0, "longitude": 181, "place": "X"},
                     {"latitude": 0, "longitude": 0, "place": ""}, {"latitude": 0, "longitude": 0}):
        with pytest.raises(ApiError) as err:
            await p.client.save_practitioner_profile(p.id, time_zone="UTC", location=location)
        assert err.value.status == 422, location
