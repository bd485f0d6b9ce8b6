"""Reassembly of encoded frames from depacketized RTP, without decoding.

Why not aiortc's own ``JitterBuffer``: it releases a frame only when the first
packet of the *next* frame arrives, which adds one frame interval (33 ms at
30 fps) to every hop, and for audio it prefetches four frames (80 ms). An SFU
that forwards frames must release a frame as soon as it is complete, so the
video assembler closes a frame on its RTP marker bit (set on the last packet of
every video frame by RFC 7741 senders) and audio packets are frames on their
own (one Opus frame per RTP packet, RFC 7587).

The assembler also decides when a frame is lost for good: it waits up to
``max_wait`` seconds for NACK retransmissions to fill a gap, then skips to the
next frame start and reports the loss, so that the forwarder can hold
subscribers back until the next keyframe instead of feeding their decoders a
broken reference chain.

This module knows RTP sequence arithmetic and the VP8 payload descriptor, but
nothing about aiortc: ``klear_client.passthrough`` feeds it, for the SFU and
the SDK alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SEQ_MODULO = 1 << 16
# A packet this far behind the stream is not late but a restarted sequence
# (new sender, new random origin); same threshold as aiortc's jitter buffer.
MAX_MISORDER = 100


def seq_delta(a: int, b: int) -> int:
    """Signed distance from RTP sequence number ``b`` to ``a``, wrap-aware."""
    return ((a - b + SEQ_MODULO // 2) % SEQ_MODULO) - SEQ_MODULO // 2


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame as the publisher's encoder produced it.

    ``data`` is the codec bitstream with RTP payload headers removed, so it is
    byte-for-byte what the publisher's encoder emitted. ``timestamp`` is the
    publisher's RTP timestamp, kept as is so subscribers see the original
    media clock (each subscriber's sender adds its own random origin).
    """

    data: bytes
    timestamp: int
    keyframe: bool


@dataclass(frozen=True, slots=True)
class Assembled:
    """What one packet produced: frames now complete, and whether any frame
    before them was given up as lost."""

    frames: tuple[EncodedFrame, ...] = ()
    lost: bool = False


NOTHING = Assembled()


def vp8_frame_start(payload: bytes) -> bool:
    """True if a VP8 RTP payload begins a frame (S=1 and PID=0, RFC 7741 4.2)."""
    return bool(payload) and (payload[0] & 0x17) == 0x10


def vp8_keyframe(frame_data: bytes) -> bool:
    """True if a depayloaded VP8 frame is a keyframe (P bit clear, RFC 6386 9.1)."""
    return bool(frame_data) and (frame_data[0] & 0x01) == 0


class AudioAssembler:
    """Opus: every packet is a frame; late or duplicate packets are dropped
    because audio must not play out of order and a jitter buffer belongs to
    the subscriber, not to the SFU."""

    def __init__(self) -> None:
        self._last_seq: int | None = None

    def add(
        self, seq: int, timestamp: int, marker: bool, payload: bytes, data: bytes
    ) -> Assembled:
        if (
            self._last_seq is not None
            and -MAX_MISORDER < seq_delta(seq, self._last_seq) <= 0
        ):
            return NOTHING
        self._last_seq = seq
        return Assembled(frames=(EncodedFrame(data, timestamp, True),))


@dataclass(slots=True)
class _Packet:
    timestamp: int
    marker: bool
    start: bool
    data: bytes


class VideoAssembler:
    """VP8: frames are released in order as soon as their marker packet and
    every packet before it (back to the frame start) are present."""

    def __init__(
        self,
        max_wait: float = 0.25,
        capacity: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_wait = max_wait
        self._capacity = capacity
        self._clock = clock
        self._packets: dict[int, _Packet] = {}
        self._next: int | None = None  # first sequence number of the next frame
        self._blocked_since: float | None = None

    def add(
        self, seq: int, timestamp: int, marker: bool, payload: bytes, data: bytes
    ) -> Assembled:
        start = vp8_frame_start(payload)
        restarted = False
        if self._next is not None and seq_delta(seq, self._next) <= -MAX_MISORDER:
            self._packets.clear()  # the sender restarted its sequence
            self._next = None
            restarted = True
        if self._next is None:
            if not start:
                return Assembled(lost=True) if restarted else NOTHING
            self._next = seq
        elif seq_delta(seq, self._next) < 0 or seq in self._packets:
            return NOTHING  # late retransmission or duplicate
        self._packets[seq] = _Packet(timestamp, marker, start, data)
        drained = self._drain()
        return Assembled(drained.frames, lost=True) if restarted else drained

    def _drain(self) -> Assembled:
        frames: list[EncodedFrame] = []
        lost = False
        while self._packets:
            assert self._next is not None
            frame, corrupt = self._take_frame(self._next)
            if frame is not None:
                frames.append(frame)
                self._blocked_since = None
                continue
            now = self._clock()
            if self._blocked_since is None:
                self._blocked_since = now
            if (
                corrupt
                or now - self._blocked_since >= self._max_wait
                or len(self._packets) >= self._capacity
            ):
                self._skip_to_next_start()
                self._blocked_since = None
                lost = True
                continue
            break
        return Assembled(tuple(frames), lost) if frames or lost else NOTHING

    def _take_frame(self, first: int) -> tuple[EncodedFrame | None, bool]:
        """Remove and return the frame starting at ``first`` if complete.

        The second value is True when the packets present cannot form a frame
        (no frame start, or the timestamp changes before a marker), which
        means some packet is gone for good.
        """
        head = self._packets.get(first)
        if head is None:
            return None, False
        if not head.start:
            return None, True
        seq = first
        parts = [head.data]
        packet = head
        while not packet.marker:
            seq = (seq + 1) % SEQ_MODULO
            following = self._packets.get(seq)
            if following is None:
                return None, False
            if following.timestamp != head.timestamp or following.start:
                return None, True
            parts.append(following.data)
            packet = following
        for done in range(seq_delta(seq, first) + 1):
            del self._packets[(first + done) % SEQ_MODULO]
        self._next = (seq + 1) % SEQ_MODULO
        data = b"".join(parts)
        return EncodedFrame(data, head.timestamp, vp8_keyframe(data)), False

    def _skip_to_next_start(self) -> None:
        """Drop everything before the oldest buffered frame start after the
        gap; with no such start, drop everything and wait for one."""
        assert self._next is not None
        origin = self._next
        starts = [
            seq
            for seq, packet in self._packets.items()
            if packet.start and seq_delta(seq, origin) > 0
        ]
        if not starts:
            self._packets.clear()
            self._next = None
            return
        target = min(starts, key=lambda seq: seq_delta(seq, origin))
        for seq in list(self._packets):
            if seq_delta(seq, target) < 0:
                del self._packets[seq]
        self._next = target
