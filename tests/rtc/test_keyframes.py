"""Keyframe gating and PLI/FIR forwarding over real RTCP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.rtc.conftest import Harness


async def test_late_subscriber_waits_for_a_keyframe_requested_by_pli(
    harness: Harness,
) -> None:
    (cam,) = await harness.join("alice", ("video", "camera"))
    await harness.join("early")
    await harness.wait_for(lambda: len(harness.frames("early", cam)) >= 30)
    publisher_track = harness.clients["alice"].published[cam]
    requests_before = publisher_track.keyframe_requests
    # one second into a 5 s loop: the next natural keyframe is 4 s away

    await harness.join("late")
    await harness.wait_for(lambda: len(harness.frames("late", cam)) >= 10, timeout=3.0)

    late = harness.frames("late", cam)
    assert late[0].frame.keyframe, "late subscriber got a delta frame first"
    assert harness.media.video.index_of(late[0].frame.data) == 0
    # the keyframe was produced because a PLI reached the publisher over RTCP
    assert publisher_track.keyframe_requests == requests_before + 1
    # and it arrived well before the loop's own keyframe would have
    first_sent_index = harness.sent[cam].index(0, 1)  # the first keyframe after the opening one
    assert first_sent_index < 100
    # the early subscriber saw the same keyframe inline, without a gap
    early = [
        harness.media.video.index_of(r.frame.data) for r in harness.frames("early", cam)
    ]
    assert 0 in early[30:]


async def test_subscriber_plis_are_rate_limited_towards_the_publisher(
    harness: Harness,
) -> None:
    (cam,) = await harness.join("alice", ("video", "camera"))
    await harness.join("bob")
    await harness.wait_for(
        lambda: len(harness.frames("bob", cam)) >= 30
    )  # > 0.5 s after bob's start PLI
    publisher_track = harness.clients["alice"].published[cam]
    before = publisher_track.keyframe_requests
    stats_before = harness.room.stats()[cam]

    for _ in range(20):  # a decoder in distress: 20 PLIs in 0.2 s
        assert harness.clients["bob"].request_keyframe(cam)
        await asyncio.sleep(0.01)
    await harness.wait_for(lambda: publisher_track.keyframe_requests >= before + 1)
    assert publisher_track.keyframe_requests == before + 1  # leading edge only
    # the trailing request goes out once the 0.5 s interval has passed
    await harness.wait_for(lambda: publisher_track.keyframe_requests >= before + 2, timeout=0.7)
    assert publisher_track.keyframe_requests == before + 2  # one trailing request

    stats = harness.room.stats()[cam]
    assert stats["keyframe_requests"] - stats_before["keyframe_requests"] == 20
    assert stats["plis_sent"] - stats_before["plis_sent"] == 2


async def test_new_subscriber_pli_after_quiet_period_is_sent_at_once(
    harness: Harness,
) -> None:
    (cam,) = await harness.join("alice", ("video", "camera"))
    await harness.join("bob")
    await harness.wait_for(lambda: len(harness.frames("bob", cam)) >= 30)
    publisher_track = harness.clients["alice"].published[cam]
    before = publisher_track.keyframe_requests
    await harness.join("carol")
    await harness.wait_for(lambda: len(harness.frames("carol", cam)) >= 1, timeout=2.0)
    assert publisher_track.keyframe_requests == before + 1
