"""No double booking under concurrent requests from many clients through two server processes."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta

import asyncpg
import pytest

from klear_client import ApiError, KlearClient

from ..conftest import signed_up
from .conftest import ALL_DAY, make_practitioner, next_weekday_date, parse

pytestmark = pytest.mark.redis

OVERLAP_SQL = """
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.practitioner_id = b.practitioner_id AND a.id < b.id
     AND a.blocked_from < b.blocked_to AND b.blocked_from < a.blocked_to
    WHERE a.status NOT IN ('cancelled', 'declined') AND b.status NOT IN ('cancelled', 'declined')
"""


async def _two_servers(start_server, redis_env):
    return await asyncio.gather(start_server(**redis_env), start_server(**redis_env))


async def _clients(clients, servers, n: int) -> list[KlearClient]:
    made = [clients(servers[i % len(servers)].url) for i in range(n)]
    await asyncio.gather(*(signed_up(c) for c in made))
    return made


async def _attempt(c: KlearClient, offering_id: str, start: str) -> tuple[int, str]:
    try:
        booked = await c.book(offering_id, start)
        return 201, booked["id"]
    except ApiError as err:
        return err.status, err.code


async def test_fifty_clients_on_two_processes_race_for_one_slot_and_exactly_one_wins(
    start_server, redis_env, clients, database_url
):
    servers = await _two_servers(start_server, redis_env)
    p = await make_practitioner(clients(servers[0].url))
    racers = await _clients(clients, servers, 50)
    start = f"{next_weekday_date(3)}T10:00:00Z"

    results = await asyncio.gather(*(_attempt(c, p.offering_id, start) for c in racers))

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: 49}, statuses
    assert {code for status, code in results if status == 409} == {"slot_unavailable"}
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 1
        assert await conn.fetchval(OVERLAP_SQL) == 0
    finally:
        await conn.close()


async def test_partly_overlapping_requests_and_buffers_never_overlap(start_server, redis_env, clients, database_url):
    servers = await _two_servers(start_server, redis_env)
    # 90-minute sessions on a 15-minute grid with 20 minutes kept free on either side:
    # every start within 2h10 of another one conflicts with it.
    p = await make_practitioner(
        clients(servers[0].url), weekly=ALL_DAY, duration_min=90,
        rules={"slot_interval_min": 15, "buffer_before_min": 20, "buffer_after_min": 20},
    )
    racers = await _clients(clients, servers, 40)
    day = next_weekday_date(4)
    starts = [f"{day}T{9 + (i * 15) // 60:02d}:{(i * 15) % 60:02d}:00Z" for i in range(20)]  # 09:00 .. 13:45

    results = await asyncio.gather(*(_attempt(c, p.offering_id, starts[i % 20]) for i, c in enumerate(racers)))

    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {201, 409} and statuses[201] >= 2, statuses
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval(OVERLAP_SQL) == 0
        rows = await conn.fetch("SELECT start_at, blocked_from, blocked_to FROM bookings ORDER BY start_at")
    finally:
        await conn.close()
    assert len(rows) == statuses[201]
    for a, b in itertools.pairwise(rows):
        assert b["start_at"] - a["start_at"] >= timedelta(minutes=130)  # 90 + 20 after + 20 before
    # The slot list agrees: nothing offered would overlap a booking or its buffers.
    free = await racers[0].slots(p.id, p.offering_id, day, day, "UTC")
    margin = timedelta(minutes=20)
    for slot in free["slots"]:
        wanted = (parse(slot["start"]) - margin, parse(slot["end"]) + margin)
        assert all(not (r["blocked_from"] < wanted[1] and wanted[0] < r["blocked_to"]) for r in rows), slot
