"""A session's state (who is in, since when) for its participants, the same from every process: REST
`GET /api/v1/bookings/{id}/video` and the `rtc:state` event, with two server processes on one Redis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from klear_client import EventRefused, KlearClient

from ..conftest import signed_up
from .conftest import book_video, next_event


async def state(client: KlearClient, booking_id: str) -> dict[str, Any]:
    response = await client.raw("GET", f"/api/v1/bookings/{booking_id}/video")
    assert response.status == 200, response.body
    return dict(response.body)


def who(found: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["user_id"], p["role"]) for p in found["participants"]]


async def test_every_process_tells_participants_who_is_in_and_since_when(
    start_server, clients, calls, redis_env
) -> None:
    first = await start_server(**redis_env)
    second = await start_server(**redis_env)
    booked = await book_video(clients(first.url), clients(second.url))  # practitioner on the first, client on the second
    pid, cid = booked.practitioner.session.user_id, booked.client.session.user_id

    before = await state(booked.client, booked.id)
    assert (before["admission"], before["participants"]) == ("open", [])
    assert before["window"]["opens_at"] < booked.booking["start_at"] < before["window"]["closes_at"]

    practitioner = await calls(booked.practitioner)  # the first process hosts the session
    client = await calls(booked.client)
    await practitioner.join(booked.id, publish=["camera"])
    seen_from_second, seen_from_first = await state(booked.client, booked.id), await state(booked.practitioner, booked.id)
    assert who(seen_from_second) == who(seen_from_first) == [(pid, "practitioner")]
    assert seen_from_second == seen_from_first, "both processes answer the same"
    assert seen_from_second["participants"][0]["joined_at"].endswith("Z")

    await client.join(booked.id, publish=["camera"])
    both = await state(booked.client, booked.id)
    assert who(both) == [(pid, "practitioner"), (cid, "client")]
    by_socket = await client.state(booked.id)  # rtc:state, from a socket on the second process
    assert by_socket == both

    await practitioner.leave()
    await next_event(client.realtime, "rtc:participant_left", user_id=pid)
    assert who(await state(booked.practitioner, booked.id)) == [(cid, "client")]

    outsider = await signed_up(clients(second.url), "client")
    refused = await outsider.raw("GET", f"/api/v1/bookings/{booked.id}/video")
    assert (refused.status, refused.body["error"]["code"]) == (404, "not_found")
    with pytest.raises(EventRefused) as by_event:
        await (await calls(outsider)).state(booked.id)
    assert by_event.value.code == "not_found"

    conn = await asyncpg.connect(first.env["DATABASE_URL"])
    try:
        audits = await conn.fetch("SELECT actor_id::text, subject_id::text FROM audit_log WHERE action = 'video.state'")
    finally:
        await conn.close()
    assert (cid, pid) in {(a["actor_id"], a["subject_id"]) for a in audits}, "reading who is in is audited"
    assert all(a["actor_id"] != a["subject_id"] for a in audits), "only reads of others are"


async def test_a_cancelled_session_is_not_joinable_rather_than_not_open_yet(start_server, clients, calls) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url), starts_after=timedelta(hours=2))
    await booked.client.booking_action(booked.id, "cancel", "cannot make it")
    with pytest.raises(EventRefused) as refused:
        await (await calls(booked.client)).join(booked.id)
    assert refused.value.code == "not_joinable" and "opens_at" not in refused.value.error
    found = await state(booked.practitioner, booked.id)
    assert (found["admission"], found["participants"]) == ("not_joinable", [])
