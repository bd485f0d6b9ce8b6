"""A synthetic participant: the client side of the server's offer/answer protocol (docs/video.md).

Why in the SDK: tests, the capacity benchmark and load bots all
need a participant that speaks the same offer/answer protocol as a browser
client, publishes without encoding and receives without decoding, so that
what is measured is the SFU. It answers every server offer: on ``recvonly``
m-lines (the server receives) it publishes a ``ReplayTrack`` of the loop
registered for that ``source``; on ``sendonly`` m-lines it receives through a
passthrough receiver and reports every complete frame to ``on_frame``; on
``inactive`` m-lines it stops its track. By default it sends no REMB (a
synthetic client has no bandwidth to adapt), which keeps its cost per
received stream low.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from .assembly import Assembled, EncodedFrame
from .media import EncodedLoop, ReplayTrack
from .passthrough import PassthroughReceiver, adopt_receiver, close_connection, intercept_keyframe_requests

Message = dict[str, Any]  # an offer from the server, or this side's answer


class NegotiationError(Exception):
    """A signalling message this side cannot answer."""


def default_configuration() -> RTCConfiguration:
    """No STUN/TURN servers (aiortc would otherwise contact a public one) and
    one transport for all m-lines, as the server offers (max-bundle)."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


@dataclass(frozen=True, slots=True)
class Received:
    """A frame as the client received it."""

    publication: str
    publisher: str
    frame: EncodedFrame
    arrival: float  # time.time()


FrameCallback = Callable[[Received], None]
SentCallback = Callable[[str, int, float], None]  # publication, loop index, time


class _FrameReporter:
    """``FrameSink`` for one received m-line."""

    def __init__(
        self, publication: str, publisher: str, on_frame: FrameCallback
    ) -> None:
        self._publication = publication
        self._publisher = publisher
        self._on_frame = on_frame
        self.ended = False

    def on_assembled(self, assembled: Assembled) -> None:
        now = time.time()
        for frame in assembled.frames:
            self._on_frame(Received(self._publication, self._publisher, frame, now))

    def on_end(self) -> None:
        self.ended = True


class SyntheticParticipant:
    """Answers server offers; publishes loops, reports received frames."""

    def __init__(
        self,
        peer_id: str,
        send: Callable[[Message], Awaitable[None]],
        sources: Mapping[str, EncodedLoop],
        on_frame: FrameCallback,
        on_sent: SentCallback | None = None,
        configuration: RTCConfiguration | None = None,
        estimate_bandwidth: bool = False,
    ) -> None:
        self.peer_id = peer_id
        self._send = send
        self._sources = dict(sources)
        self._on_frame = on_frame
        self._on_sent = on_sent
        self._estimate_bandwidth = estimate_bandwidth
        if configuration is not None and configuration.bundlePolicy != RTCBundlePolicy.MAX_BUNDLE:
            # aiortc's default (balanced) puts the second m-line of a kind on a transport it then drops:
            # that track would never flow, so the server refuses such an answer (docs/video.md).
            raise ValueError("the server bundles every m-line: use bundlePolicy=RTCBundlePolicy.MAX_BUNDLE")
        self._pc = RTCPeerConnection(configuration or default_configuration())
        self.published: dict[str, ReplayTrack] = {}  # publication id -> track
        self._receivers: dict[str, PassthroughReceiver] = {}  # publication id
        self._handled_mids: set[str] = set()

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState

    async def handle_signal(self, message: Message) -> None:
        """Answer a server offer."""
        if message.get("type") != "offer":
            raise NegotiationError(f"client got {message.get('type')!r}")
        await self._pc.setRemoteDescription(
            RTCSessionDescription(sdp=message["sdp"], type="offer")
        )
        transceivers = {t.mid: t for t in self._pc.getTransceivers()}
        for info in message["transceivers"]:
            transceiver = transceivers[info["mid"]]
            publication = info["publication"]
            if info["direction"] == "inactive":
                transceiver.direction = "inactive"
                track = self.published.pop(publication, None)
                if track is not None:
                    track.stop()
                continue
            if info["mid"] in self._handled_mids:
                continue
            self._handled_mids.add(info["mid"])
            if info["direction"] == "recvonly":
                track = ReplayTrack(
                    self._sources[info["source"]], on_sent=self._sent_hook(publication)
                )
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                intercept_keyframe_requests(transceiver.sender, track.request_keyframe)
                self.published[publication] = track
            else:
                reporter = _FrameReporter(
                    publication, info["publisher"], self._on_frame
                )
                self._receivers[publication] = adopt_receiver(
                    transceiver.receiver, reporter, self._estimate_bandwidth
                )
                transceiver.direction = "recvonly"
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        await self._send({"type": "answer", "sdp": self._pc.localDescription.sdp})

    def request_keyframe(self, publication: str) -> bool:
        """Send a PLI for a received publication, as a decoder would."""
        return self._receivers[publication].request_keyframe()

    async def close(self) -> None:
        await close_connection(self._pc)

    def _sent_hook(self, publication: str) -> Callable[[int, float], None] | None:
        on_sent = self._on_sent
        if on_sent is None:
            return None
        return lambda index, when: on_sent(publication, index, when)
