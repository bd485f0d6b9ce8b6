"""The rating aggregate stays exact under 50 concurrent reviews of one practitioner through two server processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from klear_client import ApiError, KlearClient

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY
from .conftest import listed

pytestmark = pytest.mark.redis


async def test_fifty_concurrent_reviews_over_two_processes_lose_none(start_server, redis_env, clients, database_url):
    booking_server = await start_server(**redis_env)
    p = await listed(clients(booking_server.url), "Popular Class", modalities=["yoga"], weekly=ALL_DAY, offering={
        "mode": "in_person", "address": "1 Hall Lane, Leeds", "capacity": 50})
    members = [clients(booking_server.url) for _ in range(50)]
    await asyncio.gather(*(signed_up(c) for c in members))
    now = datetime.now(UTC)
    slot = (await members[0].slots(p.id, p.offering_id, now.isoformat().replace("+00:00", "Z"),
                                   (now + timedelta(days=1)).isoformat().replace("+00:00", "Z"), "UTC"))["slots"][0]
    booked = await asyncio.gather(*(c.book(p.offering_id, slot["start"]) for c in members))

    # Two more processes whose clock reads an hour after the class started: the practitioner completes it there.
    start = datetime.fromisoformat(slot["start"].replace("Z", "+00:00"))
    shift = str(round((start + timedelta(hours=1) - datetime.now(UTC)).total_seconds()))
    later = await asyncio.gather(*(start_server(KLEAR_CLOCK_SHIFT=shift, **redis_env) for _ in range(2)))
    practitioner = clients(later[0].url)
    practitioner.session = p.client.session

    async def complete(booking_id: str) -> None:
        try:
            await practitioner.booking_action(booking_id, "complete")
        except ApiError as err:  # the booking's own finishing job got there first
            assert err.code == "illegal_transition", err

    await asyncio.gather(*(complete(b["id"]) for b in booked))

    ratings = [1 + i % 5 for i in range(50)]
    reviewers: list[KlearClient] = []
    for i, member in enumerate(members):
        r = clients(later[i % 2].url)
        r.session = member.session
        reviewers.append(r)
    written = await asyncio.gather(*(r.review(b["id"], rating) for r, b, rating in zip(reviewers, booked, ratings)))
    assert len({w["id"] for w in written}) == 50

    profile = await reviewers[0].public_profile(p.id)
    assert profile["rating"]["count"] == 50 and profile["rating"]["average"] == pytest.approx(sum(ratings) / 50)
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT rating_count, rating_sum FROM practitioner_search WHERE practitioner_id = $1",
                                  p.client.session.user_id)
    finally:
        await conn.close()
    assert (row["rating_count"], row["rating_sum"]) == (50, sum(ratings))
