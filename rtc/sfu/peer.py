"""One participant's server-side ``RTCPeerConnection`` and its negotiation.

Who offers: the server, always. aiortc has no ``negotiationneeded`` event and
no rollback, so if both sides could offer, two offers crossing (glare) would
leave an aiortc peer stuck in ``have-local-offer``. With a single offerer
glare cannot happen. Every change in what flows over the connection goes
through the server:

* joining: the server offers one m-line per track the participant wants to
  publish (``recvonly`` on our side) and one per track it receives
  (``sendonly``);
* publishing later (e.g. screen share): the client *asks* through the
  signalling layer, the server adds a ``recvonly`` m-line and offers;
* unpublishing: the m-line goes ``inactive`` in the next offer. aiortc can
  neither remove nor recycle m-lines, so each later publish adds a new one: a
  session that toggles screen share N times carries N inactive m-lines.

The client only ever answers. Offers carry, next to the SDP, a list of the
transceivers with their ``mid`` and the labels the room attached (which
publication each m-line carries), so a client knows which of its tracks to
attach to which ``recvonly`` m-line without parsing SDP.

Changes are coalesced: ``negotiate()`` marks the connection dirty and offers
only when the signalling state is ``stable``; when an answer arrives and more
changes piled up meanwhile, the next offer goes out at once. One offer is in
flight at a time per peer.

Remote candidates, trickled or in an answer, are checked against a
``CandidateFilter`` (``rtc.sfu.candidates``) before aiortc sees them, so the
server sends ICE checks only to networks the operator allows. Once one was
dropped, the client's end of candidates is not passed on: the connection may
still come up through the checks the client sends us (peer-reflexive
candidates), and aioice would otherwise give up at once for want of
candidates. A connection that never comes up is then removed by the
session's ICE timeout.

Signalling is transport-agnostic: outgoing messages are plain dicts handed to
an async ``signal(peer_id, message)`` callback (a Socket.IO emit, a queue, a
test harness); incoming answers and ICE candidates are plain dicts too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp
from klear_client.passthrough import close_connection

from rtc.sfu.candidates import ANY, CandidateFilter

Message = dict[str, Any]
Signal = Callable[[str, Message], Awaitable[None]]
StateCallback = Callable[[str, str], None]


# Only codecs the passthrough can forward; RTX kept for NACK retransmissions.
def _passthrough_codecs(kind: str) -> list[RTCRtpCodecCapability]:
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    assert capabilities is not None
    return [
        codec
        for codec in capabilities.codecs
        if codec.mimeType.lower() in ("video/vp8", "video/rtx", "audio/opus")
    ]


CODEC_PREFERENCES = {kind: _passthrough_codecs(kind) for kind in ("audio", "video")}


class NegotiationError(Exception):
    """A signalling message that does not fit the negotiation state."""


def _without_end_of_candidates(sdp: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith("a=end-of-candidates"))


def unbundled_mids(sdp: str) -> list[str]:
    """The mids of the answer's BUNDLE group that are visibly not on the group's transport.

    Why: we offer max-bundle (one transport for every m-line). An aiortc client
    with its default bundle policy (balanced) puts the second and later m-lines
    of a kind on a transport it then discards, so media on them would silently
    never flow, in either direction. Its answer shows it: aiortc repeats its
    transport (port and candidates) on every m-line, and those m-lines have
    none. Browsers repeat the transport on every bundled m-line or on none
    after the first, so only an answer that does both is refused.
    """
    group: list[str] = []
    transports: dict[str, tuple[str, ...]] = {}
    mid: str | None = None
    transport: list[str] = []
    for line in [*sdp.splitlines(), "m="]:
        if line.startswith("m="):
            if mid is not None:
                transports[mid] = tuple(transport)
            mid, transport = None, [line.split()[1] if len(line.split()) > 1 else ""]
        elif line.startswith("a=group:BUNDLE"):
            group = line.split()[1:]
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:").strip()
        elif line.startswith("a=candidate:"):
            transport.append(line.strip())
    bundled = [m for m in group if m in transports]
    if len(bundled) < 3 or len(transports[bundled[0]]) < 2:  # no candidates on the first: nothing to compare
        return []
    primary = transports[bundled[0]]
    others = bundled[1:]
    if not any(transports[m] == primary for m in others):
        return []
    return [m for m in others if transports[m] != primary]


def default_configuration() -> RTCConfiguration:
    """No STUN/TURN servers (aiortc would otherwise contact a public one) and
    one transport for all m-lines (max-bundle: one ICE/DTLS per peer)."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Peer:
    """Server side of one participant: transceivers plus offer/answer."""

    def __init__(
        self,
        peer_id: str,
        signal: Signal,
        configuration: RTCConfiguration | None = None,
        on_state: StateCallback | None = None,
        candidates: CandidateFilter = ANY,
    ) -> None:
        self.peer_id = peer_id
        self._signal = signal
        self._candidates = candidates
        self._dropped = 0  # candidates dropped so far: then the end of candidates is not passed on (see below)
        self._pc = RTCPeerConnection(configuration or default_configuration())
        self._labels: dict[RTCRtpTransceiver, dict[str, str]] = {}
        self._lock = asyncio.Lock()
        self._dirty = False
        self._closed = False
        if on_state is not None:

            @self._pc.on("connectionstatechange")
            def _state_changed() -> None:
                on_state(peer_id, self._pc.connectionState)

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState

    @property
    def signaling_state(self) -> str:
        return self._pc.signalingState

    def add_transceiver(
        self,
        kind: str,
        direction: str,
        label: Mapping[str, str],
        track: MediaStreamTrack | None = None,
    ) -> RTCRtpTransceiver:
        """A new m-line, offered at the next ``negotiate()``."""
        transceiver = self._pc.addTransceiver(track or kind, direction=direction)
        transceiver.setCodecPreferences(CODEC_PREFERENCES[kind])
        self._labels[transceiver] = dict(label)
        return transceiver

    def deactivate(self, transceiver: RTCRtpTransceiver) -> None:
        """Mark an m-line ``inactive`` at the next ``negotiate()``."""
        transceiver.direction = "inactive"

    async def negotiate(self) -> None:
        """Offer the pending changes now, or as soon as the current offer is
        answered."""
        self._dirty = True
        await self._offer_if_stable()

    async def handle_answer(self, message: Message) -> int:
        """Apply the client's answer, then offer whatever piled up meanwhile;
        returns how many of its candidates were dropped."""
        if message.get("type") != "answer" or not isinstance(message.get("sdp"), str):
            raise NegotiationError("expected {'type': 'answer', 'sdp': str}")
        async with self._lock:
            if self._pc.signalingState != "have-local-offer":
                raise NegotiationError(
                    f"answer in signalling state {self._pc.signalingState}"
                )
            split = unbundled_mids(message["sdp"])
            if split:
                raise NegotiationError(
                    f"m-lines {', '.join(split)} of the answer are not on the bundle's transport: their "
                    "tracks would never flow. Create the peer connection with bundlePolicy max-bundle."
                )
            sdp, dropped = self._candidates.answer(message["sdp"])
            self._dropped += dropped
            if self._dropped:
                sdp = _without_end_of_candidates(sdp)
            await self._pc.setRemoteDescription(
                RTCSessionDescription(sdp=sdp, type="answer")
            )
        await self._offer_if_stable()
        return dropped

    async def add_ice_candidate(self, message: Message) -> bool:
        """A trickled candidate in the browser's ``RTCIceCandidate.toJSON()``
        shape; an empty ``candidate`` means end of candidates. False: dropped,
        its address is not in the allowed networks."""
        text = message.get("candidate") or ""
        if not text:
            if not self._dropped:
                await self._pc.addIceCandidate(None)
            return True
        if not self._candidates.allows_candidate(text):
            self._dropped += 1
            return False
        candidate = candidate_from_sdp(text.removeprefix("candidate:"))
        candidate.sdpMid = message.get("sdpMid")
        candidate.sdpMLineIndex = message.get("sdpMLineIndex")
        await self._pc.addIceCandidate(candidate)
        return True

    async def close(self) -> None:
        """Close the connection; stops every sender and receiver task."""
        self._closed = True
        await close_connection(self._pc)

    async def _offer_if_stable(self) -> None:
        async with self._lock:
            if (
                self._closed
                or not self._dirty
                or not self._labels
                or self._pc.signalingState != "stable"
            ):
                return
            self._dirty = False
            await self._pc.setLocalDescription(await self._pc.createOffer())
            message = self._offer_message()
        # Signal outside the lock: the answer may come back re-entrantly.
        await self._signal(self.peer_id, message)

    def _offer_message(self) -> Message:
        return {
            "type": "offer",
            "sdp": self._pc.localDescription.sdp,
            "transceivers": [
                {
                    "mid": transceiver.mid,
                    "kind": transceiver.kind,
                    "direction": transceiver.direction,
                    **label,
                }
                for transceiver, label in self._labels.items()
            ],
        }
