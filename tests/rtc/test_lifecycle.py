"""Closing mid-stream leaves nothing running: every peer connection closed,
no task, no thread (the autouse ``no_leaks`` fixture checks every test; this
one checks explicitly inside the test, with media flowing at close time)."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest

from klear_client.participant import SyntheticParticipant
from rtc.sfu.peer import NegotiationError
from rtc.sfu.room import SfuRoom

from ..support.eventually import eventually, holds

if TYPE_CHECKING:
    from tests.rtc.conftest import Harness, Media


async def test_close_mid_stream_leaves_no_tasks_or_threads(media: Media) -> None:
    tasks_before = set(asyncio.all_tasks())
    threads_before = threading.active_count()
    clients: dict[str, SyntheticParticipant] = {}
    frames: list[object] = []

    async def signal(peer_id: str, message: dict[str, object]) -> None:
        await clients[peer_id].handle_signal(message)

    room = SfuRoom(signal)
    for name in ("a", "b", "c"):

        async def send(message: dict[str, object], name: str = name) -> None:
            await room.handle_signal(name, message)

        clients[name] = SyntheticParticipant(
            name,
            send,
            {"camera": media.video, "microphone": media.audio},
            frames.append,
        )
    for name in clients:
        await room.add_participant(name, [("video", "camera"), ("audio", "microphone")])
    await eventually(lambda: holds(len(frames) >= 200, len(frames)))
    assert len(asyncio.all_tasks()) > len(tasks_before) + 10  # senders, RTCP, ICE...
    assert threading.active_count() == threads_before

    await room.close()
    for client in clients.values():
        await client.close()

    def nothing_left_running() -> None:
        leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()} - {asyncio.current_task()}
        assert not leftover, leftover

    await eventually(nothing_left_running, timeout=2.0)
    assert threading.active_count() == threads_before
    assert all(c.connection_state == "closed" for c in clients.values())
    assert room.participant_ids == []


async def test_remove_participant_closes_its_connection(harness: Harness) -> None:
    await harness.join("alice", ("video", "camera"))
    await harness.join("bob", ("video", "camera"))
    await harness.wait_for(
        lambda: harness.clients["bob"].connection_state == "connected"
    )
    await harness.room.remove_participant("bob")
    await harness.wait_for(
        lambda: harness.clients["bob"].connection_state in ("failed", "closed"),
        timeout=40,
    )


async def test_trickled_candidates_are_accepted(harness: Harness) -> None:
    """Browsers trickle their candidates after the answer."""
    await harness.join("alice", ("video", "camera"))
    candidate = {
        "type": "candidate",
        "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    await harness.room.handle_signal("alice", candidate)
    await harness.room.handle_signal("alice", {"type": "candidate", "candidate": ""})
    with pytest.raises(NegotiationError):
        await harness.room.handle_signal("alice", {"type": "bogus"})
    with pytest.raises(NegotiationError):  # no offer outstanding
        await harness.room.handle_signal("alice", {"type": "answer", "sdp": "v=0"})
