"""Classes: an offering with a capacity above one, whose bookings at one start share the practitioner's time.

Exactly `capacity` of many concurrent requests through two processes get a place; nothing else shares the
time (another offering, an overlapping start); slots show the places left; cancelling and rescheduling give
places back; the daily limit counts a class once; every booking keeps its own two-person conversation.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from klear_client import ApiError, KlearClient

from ..conftest import signed_up
from .conftest import ALL_DAY, make_practitioner, next_weekday_date, parse

pytestmark = pytest.mark.redis

# Pairs of bookings holding overlapping time that are not in one class (same offering, same start).
OVERLAP_SQL = """
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.practitioner_id = b.practitioner_id AND a.id < b.id
     AND a.blocked_from < b.blocked_to AND b.blocked_from < a.blocked_to
     AND NOT (a.offering_id = b.offering_id AND a.start_at = b.start_at)
    WHERE a.status NOT IN ('cancelled', 'declined') AND b.status NOT IN ('cancelled', 'declined')
"""


async def _attempt(c: KlearClient, offering_id: str, start: str) -> tuple[int, str]:
    try:
        return 201, (await c.book(offering_id, start))["id"]
    except ApiError as err:
        return err.status, f"{err.code}:{err.details[0]['reason']}" if err.details else err.code


async def _refusal(c: KlearClient, offering_id: str, start: str) -> str:
    status, reason = await _attempt(c, offering_id, start)
    assert status == 409, (status, reason)
    return reason


async def test_forty_clients_on_two_processes_race_for_a_class_of_five_and_exactly_five_get_a_place(
    start_server, redis_env, clients, database_url
):
    servers = await asyncio.gather(start_server(**redis_env), start_server(**redis_env))
    teacher = clients(servers[0].url)
    p = await make_practitioner(teacher, weekly=ALL_DAY, capacity=5, name="Class Teacher",
                                rules={"buffer_after_min": 15, "max_per_day": 1})
    solo = await teacher.create_offering(p.id, name="Private lesson", duration_min=60, price_minor=9000,
                                         currency="EUR", mode="video")
    racers = [clients(servers[i % 2].url) for i in range(40)]
    await asyncio.gather(*(signed_up(c) for c in racers))
    day = next_weekday_date(3)
    start = f"{day}T10:00:00Z"

    results = await asyncio.gather(*(_attempt(c, p.offering_id, start) for c in racers))

    assert Counter(status for status, _ in results) == {201: 5, 409: 35}
    assert {reason for status, reason in results if status == 409} == {"slot_unavailable:class_full"}
    winners = [c for c, (status, _) in zip(racers, results, strict=True) if status == 201]
    late = racers[-1]
    # Nothing else shares the class's time: another offering at its start, or an overlapping start of its own.
    assert await _refusal(late, solo["id"], start) == "slot_unavailable:taken"
    assert await _refusal(late, p.offering_id, f"{day}T10:30:00Z") == "slot_unavailable:taken"
    # The daily limit (one session) counts the class once: another start that day is refused, the class is not.
    assert await _refusal(late, p.offering_id, f"{day}T14:00:00Z") == "slot_unavailable:day_full"

    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 5
        assert await conn.fetchval(OVERLAP_SQL) == 0
        members = await conn.fetch(
            """SELECT b.client_id, array_agg(m.user_id ORDER BY m.user_id) AS members FROM bookings b
               JOIN conversation_members m ON m.conversation_id = b.conversation_id GROUP BY b.id, b.client_id""")
    finally:
        await conn.close()
    # Each booking has its own conversation, with its client and the practitioner only.
    assert sorted(sorted(map(str, r["members"])) for r in members) == sorted(
        sorted([c.session.user_id, p.id]) for c in winners)


@pytest.mark.quick
async def test_slots_show_the_places_left_and_cancelling_or_moving_gives_a_place_back(app, clients):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY, capacity=3)
    people = [await signed_up(clients(app.url)) for _ in range(4)]
    day = next_weekday_date(5)
    start, other_start = f"{day}T09:00:00Z", f"{day}T15:00:00Z"

    async def places() -> dict[str, int]:
        got = await people[0].slots(p.id, p.offering_id, day, day, "UTC")
        assert got["capacity"] == 3
        return {s["start"][11:16]: s["places_left"] for s in got["slots"]}

    assert (await places())["09:00"] == 3
    booked = [await c.book(p.offering_id, start) for c in people[:3]]
    assert len({b["conversation_id"] for b in booked}) == 3
    listed = await places()
    assert "09:00" not in listed and "09:30" not in listed and listed["10:00"] == 3
    assert await _refusal(people[3], p.offering_id, start) == "slot_unavailable:class_full"

    await people[0].booking_action(booked[0]["id"], "cancel")
    assert (await places())["09:00"] == 1
    moved = await people[1].reschedule(booked[1]["id"], other_start)
    assert moved["start_at"] == other_start and moved["conversation_id"] == booked[1]["conversation_id"]
    listed = await places()
    assert (listed["09:00"], listed["15:00"]) == (2, 2)
    # Moving within the class's own start is a reschedule onto a place it frees itself.
    again = await people[2].reschedule(booked[2]["id"], start)
    assert parse(again["start_at"]) == parse(start) and (await places())["09:00"] == 2
    assert (await people[3].book(p.offering_id, start))["status"] == "confirmed"
    assert (await places())["09:00"] == 1


@pytest.mark.quick
async def test_a_video_class_fits_in_one_video_session(app, clients):
    teacher = clients(app.url)
    p = await make_practitioner(teacher, capacity=9)  # the default session holds ten people
    with pytest.raises(ApiError) as refused:
        await teacher.create_offering(p.id, name="Big class", duration_min=60, price_minor=1000, currency="EUR",
                                      mode="video", capacity=10)
    assert (refused.value.status, refused.value.details[0]["loc"]) == (422, ["body", "capacity"])
    with pytest.raises(ApiError) as refused:
        await teacher.update_offering(p.id, p.offering_id, capacity=12)
    assert refused.value.status == 422
    hall = await teacher.create_offering(p.id, name="Hall class", duration_min=60, price_minor=1000, currency="EUR",
                                         mode="in_person", address="1 Quiet Lane", capacity=40)
    assert hall["capacity"] == 40
    assert (await teacher.update_offering(p.id, p.offering_id, capacity=4))["capacity"] == 4
