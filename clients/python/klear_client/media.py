"""Synthetic pre-encoded media for test clients, bots and benchmarks.

Why pre-encoded: a client that encodes costs a core per few streams and would
measure itself instead of the SFU. Here a short loop of VP8 and Opus frames
is encoded once with PyAV (``encode_vp8_loop`` / ``encode_opus_loop``), then
``ReplayTrack`` replays it in real time with fresh timestamps as ``av.Packet``s
that aiortc's sender only packetizes, so a synthetic client costs about what
the SFU costs per stream.

Identity without touching the bitstream: every frame of a loop is distinct
(each picture carries its own noise; each audio frame its own noise), so
``EncodedLoop.index_of(data)`` recognises a received frame by its exact bytes.
That gives the byte-identity check for free, and with ``ReplayTrack``'s
``on_sent`` hook a receiver can match a frame to the moment it was sent
(latency) as long as latency stays well under the loop's length.

A loop starts with its only keyframe, so replay restarts at frame 0 (a fresh
keyframe) both when the loop wraps and when the SFU asks for a keyframe
(``request_keyframe``, wired to the sender's PLI/FIR by the client).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


@dataclass(frozen=True)
class EncodedLoop:
    """A loop of encoded frames; frame 0 is a keyframe."""

    kind: str
    clock_rate: int
    frame_duration: int  # in clock_rate units
    frames: tuple[bytes, ...]
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {data: i for i, data in enumerate(self.frames)}
        if len(index) != len(self.frames):
            raise ValueError("frames of a loop must be distinct to be identifiable")
        object.__setattr__(self, "_index", index)

    @property
    def frame_interval(self) -> float:
        return self.frame_duration / self.clock_rate

    @property
    def bitrate(self) -> float:
        """Average bits per second over the loop."""
        seconds = len(self.frames) * self.frame_interval
        return sum(len(f) for f in self.frames) * 8 / seconds

    def index_of(self, data: bytes) -> int | None:
        return self._index.get(data)


def _texture(
    width: int, height: int, rng: random.Random, block: int = 8
) -> list[bytes]:
    """Rows of a blocky random texture, twice as wide as the picture so a
    sliding window gives smooth motion."""
    columns = (2 * width) // block
    rows: list[bytes] = []
    for _ in range(height // block):
        row = b"".join(bytes([rng.randrange(40, 216)]) * block for _ in range(columns))
        rows.extend([row] * block)
    return rows


def encode_vp8_loop(
    frames: int = 150,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    bitrate: int = 500_000,
    seed: int = 1,
) -> EncodedLoop:
    """Encode ``frames`` pictures once, like aiortc's realtime VP8 settings
    (CBR at ``bitrate``), with a single keyframe at the start."""
    rng = random.Random(seed)
    texture = _texture(width, height, rng)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = bitrate
    codec.time_base = Fraction(1, fps)
    codec.framerate = Fraction(fps, 1)
    codec.gop_size = frames + 1  # no keyframe inside the loop
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
        "undershoot-pct": "100",
        "overshoot-pct": "15",
    }
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    encoded: list[bytes] = []
    for n in range(frames):
        shift = (n * 3) % width
        luma = bytearray(b"".join(row[shift : shift + width] for row in texture))
        noise_rows = 16
        for row in range(noise_rows):  # per-frame noise makes every frame unique
            start = (row + n % (height - noise_rows)) * width
            luma[start : start + width // 4] = rng.randbytes(width // 4)
        picture = av.VideoFrame(width, height, "yuv420p")
        picture.planes[0].update(bytes(luma))
        picture.planes[1].update(chroma)
        picture.planes[2].update(chroma)
        picture.pts = n
        encoded.append(b"".join(bytes(p) for p in codec.encode(picture)))
    return EncodedLoop("video", 90000, 90000 // fps, tuple(encoded))


def encode_opus_loop(
    frames: int = 100, bitrate: int = 32_000, seed: int = 2
) -> EncodedLoop:
    """Encode ``frames`` 20 ms Opus frames (48 kHz stereo) of quiet noise."""
    rng = random.Random(seed)
    samples = 960
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = bitrate
    codec.time_base = Fraction(1, 48000)
    encoded: list[bytes] = []
    pts = 0
    while len(encoded) < frames:
        pcm = b"".join(
            rng.randrange(-2000, 2000).to_bytes(2, "little", signed=True) * 2
            for _ in range(samples)
        )
        chunk = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        chunk.planes[0].update(pcm)
        chunk.sample_rate = 48000
        chunk.pts = pts
        pts += samples
        encoded.extend(bytes(p) for p in codec.encode(chunk))
    return EncodedLoop("audio", 48000, samples, tuple(encoded[:frames]))


class ReplayTrack(MediaStreamTrack):
    """Plays an ``EncodedLoop`` in real time as ``av.Packet``s.

    ``on_sent(index, wallclock)`` is called as each frame is handed to the
    sender. ``request_keyframe()`` makes the next frame the loop's keyframe.
    """

    def __init__(
        self,
        loop: EncodedLoop,
        on_sent: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = loop.kind
        self._media = loop
        self._on_sent = on_sent
        self._time_base = Fraction(1, loop.clock_rate)
        self._next_index = 0
        self._count = 0
        self._start: float | None = None
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._next_index = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._count * self._media.frame_interval
        if due > now:
            await asyncio.sleep(due - now)
        index = self._next_index
        packet = av.Packet(self._media.frames[index])
        packet.pts = self._count * self._media.frame_duration
        packet.time_base = self._time_base
        self._count += 1
        self._next_index = (index + 1) % len(self._media.frames)
        if self._on_sent is not None:
            self._on_sent(index, time.time())
        return packet
