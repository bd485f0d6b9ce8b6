"""An aiortc client must bundle every m-line on one transport, as the server offers (docs/video.md).

aiortc's default bundle policy (balanced) puts the second m-line of a kind on a
transport it then discards, so that track would silently never flow. The
server refuses such an answer with a reason instead, and the SDK refuses to
build such a client.
"""

from __future__ import annotations

import pytest
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from klear_client.participant import SyntheticParticipant
from rtc.sfu.peer import Message, NegotiationError

from ..support.media import Media
from .conftest import Harness


async def answer_with(policy: RTCBundlePolicy, offer: Message) -> tuple[RTCPeerConnection, Message]:
    """A bare aiortc client's answer to `offer`, receiving what it is sent and sending nothing."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return pc, {"type": "answer", "sdp": pc.localDescription.sdp}


async def test_an_answer_that_does_not_bundle_every_m_line_is_refused_with_the_reason(harness: Harness) -> None:
    await harness.join("alice", ("video", "camera"), ("audio", "microphone"))
    harness.hold_offers_to.add("bob")
    harness._client("bob")
    await harness.room.add_participant("bob", [("video", "camera"), ("audio", "microphone")])
    (_, offer), = harness.held
    assert [t["kind"] for t in offer["transceivers"]] == ["video", "audio", "video", "audio"]

    balanced, answer = await answer_with(RTCBundlePolicy.BALANCED, offer)
    try:
        with pytest.raises(NegotiationError, match="max-bundle"):
            await harness.room.handle_signal("bob", answer)
    finally:
        await balanced.close()

    bundled, answer = await answer_with(RTCBundlePolicy.MAX_BUNDLE, offer)
    try:
        await harness.room.handle_signal("bob", answer)  # the same offer, answered on one transport
    finally:
        await bundled.close()


def test_the_sdk_refuses_a_configuration_that_would_not_bundle(media: Media) -> None:
    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    with pytest.raises(ValueError, match="MAX_BUNDLE"):
        SyntheticParticipant("x", send, media.sources, lambda _: None,
                             configuration=RTCConfiguration(bundlePolicy=RTCBundlePolicy.BALANCED))
