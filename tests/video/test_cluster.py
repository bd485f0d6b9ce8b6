"""Two server processes on one Redis: a session lives on one, signalling for the other is relayed to it,
and when its process stops the participants rejoin and the other process takes the session over."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from ..conftest import PASSWORD
from .conftest import book_video, gauge, next_event


async def test_a_session_on_one_process_serves_sockets_on_another_and_moves_when_it_stops(
    start_server, clients, calls, redis_env, redis_url
) -> None:
    first = await start_server(**redis_env)
    second = await start_server(**redis_env)
    booked = await book_video(clients(first.url), clients(second.url))
    pid, cid = booked.practitioner.session.user_id, booked.client.session.user_id

    watcher = Redis.from_url(redis_url)
    bus = watcher.pubsub()
    await bus.psubscribe(f"{redis_env['KLEAR_REDIS_PREFIX']}:*")
    seen: list[bytes] = []

    async def listen() -> None:
        async for message in bus.listen():
            if message["type"] == "pmessage":
                seen.append(message["data"])

    listener = asyncio.create_task(listen())
    try:
        practitioner = await calls(booked.practitioner)  # socket on the first process, which hosts the session
        client = await calls(booked.client)  # socket on the second: relayed
        await practitioner.join(booked.id, publish=["camera", "microphone"])
        await client.join(booked.id, publish=["camera", "microphone"])
        await client.wait_for(lambda: client.frames_from(pid, "video") >= 20)
        await practitioner.wait_for(lambda: practitioner.frames_from(cid, "video") >= 20)
        assert (await gauge(booked.practitioner, "klear_rtc_sessions"), await gauge(booked.client, "klear_rtc_sessions")) == (1, 0)
        assert await gauge(booked.practitioner, "klear_rtc_participants") == 2

        screen = await client.publish("screen")  # renegotiation across processes
        await practitioner.wait_for(lambda: len(practitioner.received[screen["id"]]) >= 10)
        assert seen, "the relay goes over Redis"
        assert not [m for m in seen if b"a=fingerprint" in m or b"candidate:" in m], "SDP crossed Redis in clear"
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await bus.aclose()
        await watcher.aclose()

    assert await first.stop() == 0
    ended = await next_event(client.realtime, "rtc:ended")
    assert ended["reason"] == "server_shutdown"
    assert "rtc_session_ended" in first.log_text() and '"reason":"server_shutdown"' in first.log_text()

    # Both come back through the second process, which now hosts the session.
    practitioner_again = clients(second.url)
    await practitioner_again.login(booked.practitioner.session.user["email"], PASSWORD)
    practitioner = await calls(practitioner_again)
    await client.join(booked.id, publish=["camera"])
    await practitioner.join(booked.id, publish=["camera"])
    await client.wait_for(lambda: client.frames_from(pid, "video") >= 10)
    await practitioner.wait_for(lambda: practitioner.frames_from(cid, "video") >= 10)
    assert await gauge(booked.client, "klear_rtc_sessions") == 1
