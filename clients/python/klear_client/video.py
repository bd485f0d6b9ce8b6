"""Video sessions from Python: join a booking's session, publish synthetic media, receive.

Why synthetic media: bots, load tests and end-to-end tests need a participant
that costs little, so the media is a loop encoded once (``klear_client.media``)
and replayed, and what arrives is reported frame by frame without decoding
(``klear_client.participant``). The protocol is the browser's: the server
offers, this side answers; ``rtc:publish`` / ``rtc:unpublish`` ask for a
renegotiation.

A custom ``configuration`` must keep ``bundlePolicy`` max-bundle (the server
bundles every m-line; aiortc's default would leave tracks unsent).

One ``VideoCall`` per ``Realtime`` connection (it takes over the connection's
``rtc:offer`` and ``rtc:ended`` events; the other room events still reach
``Realtime.events``)::

    call = VideoCall(realtime, {"camera": encode_vp8_loop(), "microphone": encode_opus_loop()})
    joined = await call.join(booking_id, publish=["camera", "microphone"])
    await call.wait_for(lambda: call.frames_from(other_user_id) >= 30)
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiortc import RTCConfiguration

from .media import EncodedLoop
from .participant import Message, Received, SyntheticParticipant
from .realtime import Realtime


class VideoCall:
    """This user's place in one video session at a time."""

    def __init__(
        self,
        realtime: Realtime,
        sources: Mapping[str, EncodedLoop],
        configuration: Callable[[], RTCConfiguration] | None = None,
    ) -> None:
        self.realtime = realtime
        self.sources = dict(sources)
        self.session_id: str | None = None
        self.joined: dict[str, Any] | None = None
        self.received: dict[str, list[Received]] = defaultdict(list)  # publication id -> frames, in arrival order
        self.sent: dict[str, list[int]] = defaultdict(list)  # publication id -> loop indexes, in send order
        self.offers: list[Message] = []
        self.subscriptions: dict[str, dict[str, str]] = {}  # publication id -> kind, source, publisher (from offers)
        self.ended: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._configuration = configuration
        self._participant: SyntheticParticipant | None = None
        self._offer_session = ""
        self._lock = asyncio.Lock()
        realtime.sio.on("rtc:offer", self._on_offer)
        realtime.sio.on("rtc:ended", self._on_ended)

    @property
    def connection_state(self) -> str:
        return "closed" if self._participant is None else self._participant.connection_state

    async def join(self, booking_id: str, publish: Sequence[str] = ("camera", "microphone")) -> dict[str, Any]:
        """Join the session of `booking_id` with a fresh peer connection; returns the ack."""
        await self._close_participant()
        self._participant = SyntheticParticipant(
            self.realtime.user_id, self._answer, self.sources, self._on_frame, self._on_sent,
            self._configuration() if self._configuration is not None else None,
        )
        self.joined = await self.realtime.call("rtc:join", {"booking_id": booking_id, "publish": list(publish)})
        self.session_id = self.joined["session_id"]
        return self.joined

    async def state(self, booking_id: str) -> dict[str, Any]:
        """Who is in the session of `booking_id` and since when (`rtc:state`), whether or not you joined."""
        ack = await self.realtime.call("rtc:state", {"booking_id": booking_id})
        return {k: v for k, v in ack.items() if k != "ok"}

    async def publish(self, source: str) -> dict[str, Any]:
        """Start publishing `source` (e.g. "screen"); the server renegotiates."""
        ack = await self.realtime.call("rtc:publish", {"session_id": self._session(), "source": source})
        return dict(ack["publication"])

    async def unpublish(self, publication_id: str) -> None:
        await self.realtime.call("rtc:unpublish", {"session_id": self._session(), "publication_id": publication_id})

    async def mute(self, publication_id: str, muted: bool = True) -> None:
        await self.realtime.call(
            "rtc:mute", {"session_id": self._session(), "publication_id": publication_id, "muted": muted}
        )

    async def leave(self) -> None:
        if self.session_id is not None:
            await self.realtime.call("rtc:leave", {"session_id": self.session_id})
        await self.close()

    async def close(self) -> None:
        """Close the peer connection (the server notices and tells the others)."""
        await self._close_participant()
        self.session_id = None

    def frames_from(self, publisher: str, kind: str | None = None) -> int:
        """How many frames arrived from `publisher` (optionally only audio or video)."""
        return sum(
            len(frames) for publication, frames in self.received.items()
            if frames and frames[0].publisher == publisher
            and (kind is None or self.subscriptions.get(publication, {}).get("kind") == kind)
        )

    def request_keyframe(self, publication_id: str) -> bool:
        assert self._participant is not None
        return self._participant.request_keyframe(publication_id)

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.02)

    # -- internals -----------------------------------------------------------------------------

    def _session(self) -> str:
        if self.session_id is None:
            raise RuntimeError("join a session first")
        return self.session_id

    async def _answer(self, message: Message) -> None:
        await self.realtime.call("rtc:answer", {"session_id": self._offer_session, "sdp": message["sdp"]})

    async def _on_offer(self, data: dict[str, Any]) -> None:
        # Offers are answered one at a time, in order (the server sends the next only after an answer).
        async with self._lock:
            self.offers.append(data)
            for t in data["transceivers"]:
                if t["role"] == "subscribe":
                    self.subscriptions[t["publication"]] = {k: t[k] for k in ("kind", "source", "publisher")}
            if self._participant is None:
                return
            self._offer_session = data["session_id"]
            await self._participant.handle_signal(data)

    async def _on_ended(self, data: dict[str, Any]) -> None:
        if data.get("session_id") == self.session_id:
            await self._close_participant()
            self.session_id = None
        await self.ended.put(data)
        await self.realtime.events.put(("rtc:ended", data))

    async def _close_participant(self) -> None:
        participant, self._participant = self._participant, None
        if participant is not None:
            await participant.close()

    def _on_frame(self, received: Received) -> None:
        self.received[received.publication].append(received)

    def _on_sent(self, publication: str, index: int, when: float) -> None:
        self.sent[publication].append(index)
