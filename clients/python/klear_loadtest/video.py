"""Video pairs: a client and a practitioner in their booking's session, each publishing a pre-encoded
VP8 loop (`klear_client.media`) through the SFU, watched for gaps.

A pair is healthy while frames from the other person keep arriving. When they stop for
`STALL` seconds (the node hosting the session or one side's socket died), the side that noticed joins
again with a fresh peer connection, through whichever node its socket is on now; the interruption
lasts from the last frame before the gap to the first one after, and is recorded as `video.rejoin`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import ExitStack
from urllib.parse import urlsplit

from klear_client.loopback import loopback_ice
from klear_client.media import EncodedLoop, encode_vp8_loop
from klear_client.video import VideoCall

from .actors import Actor
from .latency import Second

STALL = 2.0
CHECK_EVERY = 0.25
RETRY = 1.0  # a dead owner's claim on a session lapses within 15 s (docs/video.md); try again each second


def sources() -> dict[str, EncodedLoop]:
    """One camera loop (3 s at 15 fps, 300 kbps), encoded once per process."""
    return {"camera": encode_vp8_loop(frames=45, fps=15, bitrate=300_000)}


def ice_for(base_url: str, ice: str, stack: ExitStack) -> None:
    """Loopback ICE (aioice otherwise skips 127.0.0.1) when `ice` says so, or for "auto" when the
    deployment is on this machine's loopback. Behind a load balancer on loopback whose nodes have
    addresses of their own (the cluster rehearsal), media goes to the nodes directly: use "host"."""
    host = urlsplit(base_url).hostname or ""
    local = host in ("localhost", "::1") or host.startswith("127.")
    if ice == "loopback" or (ice == "auto" and local):
        stack.enter_context(loopback_ice())


class VideoPair:
    def __init__(self, a: Actor, b: Actor, booking_id: str, media: dict[str, EncodedLoop],
                 now: Callable[[], Second]) -> None:
        self.sides = [(a, VideoCall(a.rt, media)), (b, VideoCall(b.rt, media))]
        self.booking_id = booking_id
        self.now = now
        self.joined = False
        self.rejoined: list[float] = []  # seconds each interruption lasted
        self.stalled = [False, False]  # per side: no frames from the other for STALL seconds
        self._watch: asyncio.Task[None] | None = None

    def _peer(self, i: int) -> str:
        return self.sides[1 - i][0].rt.user_id

    async def start(self) -> None:
        """Both join; done when each receives the other's frames (recorded as `video.join`)."""
        began = time.monotonic()
        for _, call in self.sides:
            await call.join(self.booking_id, publish=["camera"])
        await asyncio.gather(*(call.wait_for(lambda c=call, p=self._peer(i): c.frames_from(p) > 0, timeout=30.0)
                               for i, (_, call) in enumerate(self.sides)))
        self.now().ok("video.join", time.monotonic() - began)
        self.joined = True
        self._watch = asyncio.ensure_future(self._watch_gaps())

    async def _watch_gaps(self) -> None:
        seen = [0, 0]
        last_frame = [time.monotonic()] * 2
        stalled = self.stalled
        attempts: list[asyncio.Task[None] | None] = [None, None]
        attempted_at = [0.0, 0.0]
        while True:
            await asyncio.sleep(CHECK_EVERY)
            now = time.monotonic()
            for i, (actor, call) in enumerate(self.sides):
                frames = call.frames_from(self._peer(i))
                if frames > seen[i]:
                    if stalled[i]:
                        self.rejoined.append(now - last_frame[i])
                        self.now().ok("video.rejoin", now - last_frame[i])
                        stalled[i] = False
                    seen[i], last_frame[i] = frames, now
                    continue
                if now - last_frame[i] <= STALL or not actor.rt.sio.connected:
                    continue
                if not stalled[i]:
                    stalled[i] = True
                    self.now().events["video.interrupted"] += 1
                running = attempts[i] is not None and not attempts[i].done()  # type: ignore[union-attr]
                if not running and now - attempted_at[i] > RETRY:
                    attempted_at[i] = now
                    attempts[i] = asyncio.ensure_future(self._rejoin(call))

    async def _rejoin(self, call: VideoCall) -> None:
        try:
            await call.join(self.booking_id, publish=["camera"])
        except Exception as exc:  # tried again RETRY s later; counted meanwhile
            self.now().failed("video.rejoin", getattr(exc, "code", type(exc).__name__))

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        for _, call in self.sides:
            await call.close()
