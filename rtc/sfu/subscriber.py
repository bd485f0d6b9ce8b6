"""The subscriber end of forwarding: a track that hands encoded frames to
aiortc's sender as ``av.Packet``s.

Why a ``MediaStreamTrack`` of packets: aiortc's public sender contract is
"``recv()`` returns a Frame or a Packet"; for a Packet the sender only
packetizes (``Encoder.pack``), so no encoder runs and no thread is used. The
sender's own RTP task pulls from this track, so the only per-subscriber
concurrency is the task aiortc already has.

Why the gate: a decoder that starts on a delta frame, or after frames were
dropped, shows corruption until the next keyframe, and since aiortc's sender
rewrites VP8 picture IDs the subscriber cannot even notice the gap. So a video
subscriber gets nothing until a keyframe after it starts pulling (its sender
is connected), and after any drop it is held back until the next one. The
keyframe request goes out when the sender first pulls, not when the track is
created: before that the subscriber's DTLS handshake is still running and a
keyframe would be wasted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from klear_client.assembly import EncodedFrame


class ForwardedTrack(MediaStreamTrack):
    """Queue of encoded frames for one subscriber's sender.

    ``queue_limit`` bounds the latency a slow subscriber can accumulate: on
    overflow a video queue is flushed and gated on the next keyframe, an
    audio queue drops its oldest frame.
    """

    def __init__(
        self,
        kind: str,
        clock_rate: int,
        gate_on_keyframe: bool,
        queue_limit: int,
        request_keyframe: Callable[[], None],
    ) -> None:
        super().__init__()
        self.kind = kind
        self._time_base = Fraction(1, clock_rate)
        self._gate = gate_on_keyframe
        self._queue_limit = queue_limit
        self._request_keyframe = request_keyframe
        self._queue: deque[EncodedFrame] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._pulling = False
        self._ended = False
        self.waiting_for_keyframe = False
        self.frames_forwarded = 0
        self.frames_dropped = 0

    def offer(self, frame: EncodedFrame) -> None:
        """Queue ``frame`` unless the track is not pulling yet or is gated."""
        if not self._pulling or self._ended:
            return
        if self.waiting_for_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self.waiting_for_keyframe = False
        if len(self._queue) >= self._queue_limit:
            if self._gate:
                self.frames_dropped += len(self._queue) + 1
                self._queue.clear()
                self.hold_until_keyframe()
                self._request_keyframe()
                return
            self._queue.popleft()
            self.frames_dropped += 1
        self._queue.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def hold_until_keyframe(self) -> None:
        """Drop frames until the next keyframe (after a loss upstream)."""
        if self._gate and self._pulling:
            self.waiting_for_keyframe = True

    def end(self) -> None:
        """No more frames will come: the sender drains the queue and exits."""
        self._ended = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def stop(self) -> None:
        self.end()
        super().stop()

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._pulling:
            self._pulling = True
            if self._gate:
                self.waiting_for_keyframe = True
                self._request_keyframe()
        while not self._queue:
            if self._ended:
                self.stop()
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._queue.popleft()
        self.frames_forwarded += 1
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = self._time_base
        return packet
