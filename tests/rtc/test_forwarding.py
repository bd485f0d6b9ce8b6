"""End-to-end forwarding through the SFU with real aiortc peers (DTLS-SRTP on
both hops): what subscribers get is exactly what publishers sent, in order,
without the SFU decoding (no decoder thread ever starts)."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.rtc.conftest import Harness


def assert_contiguous_run(received: list[int | None], sent: list[int]) -> None:
    """``received`` (loop indices) must be ``sent[k:k+len]`` for some k: same
    bytes, same order, nothing skipped, nothing duplicated."""
    assert received and None not in received, "a frame with unknown bytes arrived"
    for start in range(len(sent) - len(received) + 1):
        if sent[start : start + len(received)] == received:
            return
    raise AssertionError(
        f"received {received[:10]}... is not a run of sent {sent[:10]}..."
    )


async def test_two_participants_exchange_identical_video_and_audio(
    harness: Harness,
) -> None:
    threads_before = threading.active_count()
    alice = await harness.join("alice", ("video", "camera"), ("audio", "microphone"))
    bob = await harness.join("bob", ("video", "camera"), ("audio", "microphone"))
    streams = [
        ("bob", alice[0]),
        ("bob", alice[1]),
        ("alice", bob[0]),
        ("alice", bob[1]),
    ]

    await harness.wait_for(
        lambda: all(len(harness.frames(s, p)) >= 45 for s, p in streams)
    )
    # media flows and the SFU runs no decoder (or any other) thread for it
    assert threading.active_count() == threads_before

    for subscriber, publication in streams:
        frames = harness.frames(subscriber, publication)
        loop = harness.media.loop_for("video" if "camera" in publication else "audio")
        indices = [loop.index_of(r.frame.data) for r in frames]
        assert_contiguous_run(indices, harness.sent[publication])
        if "camera" in publication:
            assert frames[0].frame.keyframe, "video must start on a keyframe"
        timestamps = [r.frame.timestamp for r in frames]
        assert all(b > a for a, b in itertools.pairwise(timestamps)), (
            "timestamps go back"
        )

    stats = harness.room.stats()
    assert all(s["frames_lost"] == 0 for s in stats.values())


async def test_audio_only_participant_receives_without_publishing(
    harness: Harness,
) -> None:
    (mic,) = await harness.join("alice", ("audio", "microphone"))
    await harness.join("listener")
    await harness.wait_for(lambda: len(harness.frames("listener", mic)) >= 25)
    indices = [
        harness.media.audio.index_of(r.frame.data)
        for r in harness.frames("listener", mic)
    ]
    assert_contiguous_run(indices, harness.sent[mic])
    assert "listener" not in {p["publisher"] for p in harness.room.publications()}


async def test_participant_leaving_ends_forwarding_to_others(harness: Harness) -> None:
    (cam,) = await harness.join("alice", ("video", "camera"))
    await harness.join("bob")
    await harness.wait_for(lambda: len(harness.frames("bob", cam)) >= 10)
    await harness.room.remove_participant("alice")
    assert harness.room.publications() == []
    await asyncio.sleep(0.3)
    count = len(harness.frames("bob", cam))
    await asyncio.sleep(0.3)
    assert len(harness.frames("bob", cam)) == count
    last_offer = harness.offers["bob"][-1]
    assert [t["direction"] for t in last_offer["transceivers"]] == ["inactive"]
