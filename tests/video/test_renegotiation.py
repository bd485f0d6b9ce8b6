"""Publishing mid-session (screen share on, off, on again) renegotiates everyone; the room hears about it."""

from __future__ import annotations

import pytest

from klear_client import EventRefused

from ..support.eventually import eventually, holds
from .conftest import Media, book_video, next_event


def last_directions(offers: list[dict], session_id: str) -> dict[str, str]:
    offer = [o for o in offers if o["session_id"] == session_id][-1]
    return {t["publication"]: t["direction"] for t in offer["transceivers"]}


async def test_screen_share_starts_stops_and_starts_again(start_server, clients, calls, media: Media) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner = await calls(booked.practitioner)
    client = await calls(booked.client)
    pid = booked.practitioner.session.user_id
    await practitioner.join(booked.id, publish=["camera", "microphone"])
    await client.join(booked.id, publish=["camera"])
    await client.wait_for(lambda: client.frames_from(pid, "video") >= 10)

    screen = await practitioner.publish("screen")
    assert screen["source"] == "screen" and screen["kind"] == "video" and screen["publisher"] == pid
    announced = await next_event(client.realtime, "rtc:track_published")
    assert announced["publication"]["id"] == screen["id"]
    await client.wait_for(lambda: len(client.received[screen["id"]]) >= 15)
    assert client.received[screen["id"]][0].frame.keyframe, "a new subscriber starts on a keyframe"
    with pytest.raises(EventRefused) as refused:
        await practitioner.publish("screen")
    assert refused.value.code == "already_published"

    await practitioner.unpublish(screen["id"])
    gone = await next_event(client.realtime, "rtc:track_unpublished")
    assert gone["publication_id"] == screen["id"]
    session_id = client.session_id
    assert session_id is not None
    await client.wait_for(lambda: last_directions(client.offers, session_id).get(screen["id"]) == "inactive")

    def camera() -> int:  # the camera's frames on the same connection mark the time
        return client.frames_from(pid, "video") - len(client.received[screen["id"]])

    # Screen packets already on their way land while the camera sends another ~0.3 s (30 fps) ...
    drained_from = camera()
    await eventually(lambda: holds(camera() >= drained_from + 9, camera()))
    stopped_at = len(client.received[screen["id"]])
    camera_at = camera()
    # ... then no screen frame may come while the camera sends another ~0.5 s.
    await eventually(lambda: holds(camera() >= camera_at + 15, camera()))
    assert len(client.received[screen["id"]]) == stopped_at, "an unpublished track still flows"
    assert camera() > camera_at + 5, "the camera stopped with the screen"

    again = await practitioner.publish("screen")
    assert again["id"] != screen["id"]
    await client.wait_for(lambda: len(client.received[again["id"]]) >= 10)
    assert client.received[again["id"]][0].frame.keyframe
    assert practitioner.connection_state == client.connection_state == "connected"


async def test_mute_changes_reach_the_room(start_server, clients, calls) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner = await calls(booked.practitioner)
    client = await calls(booked.client)
    await practitioner.join(booked.id, publish=["microphone"])
    joined = await client.join(booked.id, publish=["microphone"])
    mine = joined["published"][0]
    await client.mute(mine, True)
    muted = await next_event(practitioner.realtime, "rtc:mute")
    assert muted == {"session_id": joined["session_id"], "publication_id": mine,
                     "publisher": booked.client.session.user_id, "muted": True}
    theirs = [p for p in joined["publications"] if p["publisher"] != booked.client.session.user_id][0]
    with pytest.raises(EventRefused) as refused:
        await client.mute(theirs["id"], True)
    assert refused.value.code == "unknown_publication"
    await client.mute(mine, False)
    assert (await next_event(practitioner.realtime, "rtc:mute"))["muted"] is False
