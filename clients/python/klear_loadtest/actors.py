"""Connected users of one generator process, and what they notice: reconnects, chat deliveries,
booking updates. Each keeps one Socket.IO connection through the SDK's `Realtime`, whose recovery
(re-join with the last seq seen) is what a failover exercises."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from klear_client import KlearClient, Realtime, Session

from .latency import Second


@dataclass
class Actor:
    client: KlearClient
    rt: Realtime
    conversation_id: str | None = None
    feed: bool = False  # follows its booking feed (bookings:subscribe), from feed_seq on after a reconnect
    feed_seq: int = 0
    churning: bool = False  # a deliberate disconnect (presence churn) is not a failover
    disconnected_at: float | None = None
    seqs: Counter[int] = field(default_factory=Counter)  # chat seqs received, with how often
    drain: asyncio.Task[None] | None = None


class Crowd:
    """Every connected user of this process; records what they notice into the current second."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession, now: Callable[[], Second]) -> None:
        self.base_url = base_url
        self.http = http
        self.now = now  # the Second being recorded
        self.actors: list[Actor] = []
        self.sent_at: dict[str, float] = {}  # chat client_id -> when its send began
        self.recoveries: list[float] = []  # seconds from a lost connection to rejoined and usable
        self.stopping = False

    async def add(self, made: dict[str, Any], conversation_id: str | None = None, *, feed: bool = False) -> Actor:
        client = KlearClient(self.base_url, session=self.http)
        client.session = Session.of_test_user(made)
        actor = Actor(client, Realtime(client, ack_timeout=10.0), conversation_id, feed)
        try:
            await actor.rt.connect(wait=30.0)
            if conversation_id is not None:
                await actor.rt.join(conversation_id)
            if feed:
                actor.feed_seq = int((await actor.rt.call("bookings:subscribe", {}))["last_seq"])
        except Exception as exc:  # counted, and the user stays out of the run
            self.now().failed("connect", getattr(exc, "code", type(exc).__name__))
            await actor.rt.close()
            raise
        actor.drain = asyncio.ensure_future(self._drain(actor))
        self.actors.append(actor)
        return actor

    @property
    def connected(self) -> int:
        return sum(1 for a in self.actors if a.rt.sio.connected)

    async def _drain(self, actor: Actor) -> None:
        while True:
            event, data = await actor.rt.events.get()
            if event == "disconnect" and not actor.churning and not self.stopping:
                actor.disconnected_at = time.monotonic()
                self.now().events["disconnect"] += 1
            elif event == "connect" and actor.disconnected_at is not None:
                lost_at, actor.disconnected_at = actor.disconnected_at, None
                self.now().ok("reconnect", time.monotonic() - lost_at)
                asyncio.ensure_future(self._recover(actor, lost_at))
            elif event == "message:new":
                self._delivered(actor, data)
            elif event == "bookings:update":
                actor.feed_seq = max(actor.feed_seq, int(data["seq"]))
                self.now().events["booking.update"] += 1

    async def _recover(self, actor: Actor, lost_at: float) -> None:
        """Recovered = reconnected, and re-joined (chat) or re-subscribed (feed) with the backlog delivered."""
        try:
            if actor.conversation_id is not None:
                await actor.rt.join(actor.conversation_id)
            if actor.feed:
                await actor.rt.call("bookings:subscribe", {"last_seq": actor.feed_seq})
            self.recoveries.append(time.monotonic() - lost_at)
            self.now().ok("recover", time.monotonic() - lost_at)
        except Exception as exc:  # a failed recovery is an error of the run, not of this process
            self.now().failed("recover", getattr(exc, "code", type(exc).__name__))

    def _delivered(self, actor: Actor, message: dict[str, Any]) -> None:
        actor.seqs[int(message["seq"])] += 1
        if message.get("sender_id") == actor.rt.user_id:
            return
        started = self.sent_at.get(str(message.get("client_id")))
        if started is not None:
            self.now().ok("chat.deliver", time.monotonic() - started)

    async def close(self) -> None:
        self.stopping = True
        for actor in self.actors:
            if actor.drain is not None:
                actor.drain.cancel()
        await asyncio.gather(*(a.drain for a in self.actors if a.drain is not None), return_exceptions=True)
        gate = asyncio.Semaphore(200)

        async def close(actor: Actor) -> None:
            async with gate:
                await actor.rt.close()

        await asyncio.gather(*(close(a) for a in self.actors), return_exceptions=True)
