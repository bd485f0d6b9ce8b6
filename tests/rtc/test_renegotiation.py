"""Publishing and unpublishing a screen share mid-session renegotiates every
participant (the server offers, clients answer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.rtc.conftest import Harness


def directions(harness: Harness, peer_id: str) -> dict[str, str]:
    offer = harness.offers[peer_id][-1]
    return {t["publication"]: t["direction"] for t in offer["transceivers"]}


async def test_screen_share_publish_unpublish_republish(harness: Harness) -> None:
    cam, _mic = await harness.join(
        "alice", ("video", "camera"), ("audio", "microphone")
    )
    await harness.join("bob", ("video", "camera"))
    await harness.wait_for(lambda: len(harness.frames("bob", cam)) >= 10)

    screen = await harness.room.publish("alice", "video", "screen")
    assert directions(harness, "bob")[screen] == "sendonly"
    assert directions(harness, "alice")[screen] == "recvonly"
    await harness.wait_for(lambda: len(harness.frames("bob", screen)) >= 15)
    assert harness.frames("bob", screen)[0].frame.keyframe

    await harness.room.unpublish("alice", screen)
    assert directions(harness, "bob")[screen] == "inactive"
    assert directions(harness, "alice")[screen] == "inactive"
    assert screen not in harness.clients["alice"].published
    # alice's camera on the same connection marks the time (30 fps): screen
    # packets already on their way land during ~0.2 s of camera frames ...
    drained_from = len(harness.frames("bob", cam))
    await harness.wait_for(lambda: len(harness.frames("bob", cam)) >= drained_from + 6)
    stopped_at = len(harness.frames("bob", screen))
    camera_at = len(harness.frames("bob", cam))
    # ... and then no screen frame may come during another ~0.4 s of them.
    await harness.wait_for(lambda: len(harness.frames("bob", cam)) >= camera_at + 12)
    assert len(harness.frames("bob", screen)) == stopped_at, (
        "unpublished track still flows"
    )
    assert len(harness.frames("bob", cam)) > camera_at + 5, (
        "camera stopped with the screen"
    )

    again = await harness.room.publish("alice", "video", "screen")
    assert again != screen
    await harness.wait_for(lambda: len(harness.frames("bob", again)) >= 10)
    assert harness.frames("bob", again)[0].frame.keyframe
    for peer in ("alice", "bob"):
        assert harness.clients[peer].connection_state == "connected"
    mids = [t["mid"] for t in harness.offers["bob"][-1]["transceivers"]]
    assert len(mids) == len(set(mids))


async def test_changes_during_an_unanswered_offer_are_coalesced(
    harness: Harness,
) -> None:
    """While an offer is outstanding, further changes wait and go out as one
    offer once the answer arrives (no glare: only the server offers)."""
    await harness.join("bob", ("video", "camera"))
    harness.hold_offers_to.add("bob")
    await harness.join("alice", ("video", "camera"))  # offer to bob: held
    await harness.room.publish("alice", "audio", "microphone")  # must wait
    await harness.room.publish("alice", "video", "screen")  # must wait
    assert len(harness.held) == 1 and len(harness.offers["bob"]) == 1
    harness.hold_offers_to.clear()
    await harness.deliver(*harness.held.pop())  # the answer releases one combined offer
    assert len(harness.offers["bob"]) == 3
    sources = [t["source"] for t in harness.offers["bob"][-1]["transceivers"]]
    assert sources == ["camera", "camera", "microphone", "screen"]
