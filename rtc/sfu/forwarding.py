"""Fan-out of one published track's encoded frames to its subscribers.

Why a separate object per published track: the keyframe policy is per
publisher stream. Every subscriber that needs a keyframe (one that just
started, one that fell behind and was flushed, one whose decoder sent a
PLI/FIR, or all of them after the SFU lost a frame) asks the same publisher,
and a publisher flooded with PLIs answers with a storm of large keyframes that
congest every subscriber. ``KeyframeRequester`` therefore coalesces requests:
the first goes out at once, later ones within ``min_interval`` are folded into
one trailing request, and while any subscriber still waits for a keyframe it
retries once per interval (the PLI or the keyframe itself may be lost).

Frames are pushed synchronously from the publisher's receive path into each
subscriber's ``ForwardedTrack`` queue: no task, no copy, and the
subscriber's aiortc sender packetizes them when it pulls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from klear_client.assembly import Assembled

from rtc.sfu.subscriber import ForwardedTrack


@dataclass(slots=True)
class ForwardingStats:
    """Counters for monitoring and tests."""

    frames_in: int = 0
    keyframes_in: int = 0
    frames_lost: int = 0
    keyframe_requests: int = 0
    plis_sent: int = 0


class KeyframeRequester:
    """Rate-limited keyframe requests to one publisher (leading + trailing
    edge, retried while ``still_needed()``)."""

    def __init__(
        self,
        send_pli: Callable[[], bool],
        still_needed: Callable[[], bool],
        stats: ForwardingStats,
        min_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send_pli = send_pli
        self._still_needed = still_needed
        self._stats = stats
        self._min_interval = min_interval
        self._clock = clock
        self._last_sent: float | None = None
        self._pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def request(self) -> None:
        """Ask the publisher for a keyframe, now or at the next allowed time."""
        if self._closed:
            return
        self._stats.keyframe_requests += 1
        self._attempt()

    def _attempt(self) -> None:
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self._min_interval:
            self._pending = False
            if self._send_pli():
                self._stats.plis_sent += 1
                self._last_sent = now
            else:
                self._pending = True  # publisher not connected yet: retry later
        else:
            self._pending = True
        self._arm(now)

    def keyframe_arrived(self) -> None:
        """A keyframe answers every request made so far."""
        self._pending = False

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, now: float) -> None:
        if self._timer is not None:
            return
        due = (self._last_sent if self._last_sent is not None else now) + (
            self._min_interval
        )
        self._timer = asyncio.get_running_loop().call_later(
            max(0.0, due - now), self._on_timer
        )

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        if self._pending or self._still_needed():
            self._attempt()


class TrackForwarder:
    """Forwards one published track to N ``ForwardedTrack``s.

    Implements ``klear_client.passthrough.FrameSink`` so the publisher's passthrough
    receiver feeds it directly.
    """

    def __init__(
        self,
        kind: str,
        clock_rate: int,
        send_pli: Callable[[], bool],
        pli_interval: float = 0.5,
        queue_limit: int = 60,
    ) -> None:
        self.kind = kind
        self.stats = ForwardingStats()
        self._clock_rate = clock_rate
        self._queue_limit = queue_limit
        self._tracks: set[ForwardedTrack] = set()
        self._ended = False
        self.keyframes = KeyframeRequester(
            send_pli,
            still_needed=self._anyone_waiting,
            stats=self.stats,
            min_interval=pli_interval,
        )

    @property
    def subscriber_count(self) -> int:
        return len(self._tracks)

    def attach(self) -> ForwardedTrack:
        """A new subscriber track; it receives nothing until its sender starts
        pulling and (for video) a keyframe arrives."""
        track = ForwardedTrack(
            kind=self.kind,
            clock_rate=self._clock_rate,
            gate_on_keyframe=self.kind == "video",
            queue_limit=self._queue_limit,
            request_keyframe=self.keyframes.request,
        )
        if self._ended:
            track.end()
        else:
            self._tracks.add(track)
        return track

    def detach(self, track: ForwardedTrack) -> None:
        """Stop forwarding to ``track`` and end it (its sender task exits)."""
        self._tracks.discard(track)
        track.end()

    def on_assembled(self, assembled: Assembled) -> None:
        if assembled.lost:
            self.stats.frames_lost += 1
            for track in self._tracks:
                track.hold_until_keyframe()
            if self.kind == "video" and self._tracks:
                self.keyframes.request()
        for frame in assembled.frames:
            self.stats.frames_in += 1
            if frame.keyframe:
                self.stats.keyframes_in += 1
                if self.kind == "video":
                    self.keyframes.keyframe_arrived()
            for track in self._tracks:
                track.offer(frame)

    def on_end(self) -> None:
        self.close()

    def close(self) -> None:
        """End every subscriber track and stop keyframe retries. Idempotent."""
        self._ended = True
        self.keyframes.close()
        for track in self._tracks:
            track.end()
        self._tracks.clear()

    def _anyone_waiting(self) -> bool:
        return any(track.waiting_for_keyframe for track in self._tracks)
