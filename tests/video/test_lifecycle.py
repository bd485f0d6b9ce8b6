"""Limits and clean-up on a real server: nothing outlives a session, silent peers are removed,
a cancelled booking ends its session."""

from __future__ import annotations

from klear_client import Realtime

from ..support.eventually import eventually
from .conftest import book_video, gauge, next_event


async def test_a_finished_session_leaves_no_peer_task_or_thread_behind(start_server, clients, calls) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner = await calls(booked.practitioner)
    client = await calls(booked.client)
    api = booked.client
    pid = booked.practitioner.session.user_id

    async def settled_tasks() -> float:
        return await gauge(api, "klear_asyncio_tasks")

    tasks_before, threads_before = await settled_tasks(), await gauge(api, "klear_threads")
    await practitioner.join(booked.id, publish=["camera", "microphone"])
    await client.join(booked.id, publish=["camera", "microphone"])
    await client.wait_for(lambda: client.frames_from(pid) >= 30)
    screen = await practitioner.publish("screen")
    await client.wait_for(lambda: len(client.received[screen["id"]]) >= 5)
    assert await gauge(api, "klear_rtc_participants") == 2
    assert await gauge(api, "klear_asyncio_tasks") > tasks_before + 10  # senders, receivers, ICE, DTLS...

    await practitioner.unpublish(screen["id"])
    await client.leave()
    await practitioner.leave()
    assert await gauge(api, "klear_rtc_sessions") == 0

    async def back_to_baseline() -> None:
        assert await gauge(api, "klear_asyncio_tasks") <= tasks_before

    await eventually(back_to_baseline, timeout=10)
    assert await gauge(api, "klear_threads") <= threads_before


async def test_a_participant_whose_connection_never_comes_up_is_removed(start_server, clients, calls) -> None:
    server = await start_server(KLEAR_RTC_ICE_TIMEOUT="1.5")
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner = await calls(booked.practitioner)
    await practitioner.join(booked.id, publish=["camera"])
    silent = Realtime(booked.client, reconnect=False)  # joins, then never answers the offer
    await silent.connect()
    try:
        await silent.call("rtc:join", {"booking_id": booked.id, "publish": ["camera"]})
        assert (await next_event(silent, "rtc:ended", timeout=5))["reason"] == "ice_timeout"
        left = await next_event(practitioner.realtime, "rtc:participant_left", timeout=5)
        assert (left["user_id"], left["reason"]) == (booked.client.session.user_id, "ice_timeout")
        assert await gauge(booked.client, "klear_rtc_participants") == 1
        assert practitioner.connection_state == "connected", "the one who connected stays"
    finally:
        await silent.close()


async def test_cancelling_the_booking_ends_its_session(start_server, clients, calls) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner = await calls(booked.practitioner)
    await practitioner.join(booked.id, publish=["camera"])
    await booked.client.booking_action(booked.id, "cancel", reason="Something came up")
    ended = await practitioner.ended.get()
    assert ended["reason"] == "booking_cancelled"
    assert await gauge(booked.client, "klear_rtc_sessions") == 0
