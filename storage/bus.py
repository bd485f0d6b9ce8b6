"""The event bus: broadcast of domain events to every process.

Publishers send bytes on a named channel; every process subscribed to that
channel receives them, in publish order. With Redis it is Redis pub/sub; without
Redis it is an in-process queue with the same interface.

Pub/sub is fire-and-forget: an event published while Redis is unreachable, or
while a listener is reconnecting, is gone. Consumers that must not lose events
(chat, booking updates) therefore keep the durable copy in PostgreSQL and use
the bus only to wake listeners; `on_reconnect` callbacks tell them when to
catch up from the database after an outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]
ReconnectHandler = Callable[[], Awaitable[None]]


class Bus:
    """Shared behaviour: the handler table and the reconnect callbacks."""

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._on_reconnect: list[ReconnectHandler] = []
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(channel, data)` for every later event on `channel`."""
        self._handlers[channel].append(handler)

    def on_reconnect(self, callback: ReconnectHandler) -> None:
        """Call `callback()` after the bus recovers from a lost connection."""
        self._on_reconnect.append(callback)

    async def _dispatch(self, channel: str, data: bytes) -> None:
        for handler in self._handlers.get(channel, ()):
            try:
                await handler(channel, data)
            except Exception:
                log.exception("bus handler failed", extra={"channel": channel})

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop delivering: cancel the task that `start` began and wait for it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def publish(self, channel: str, data: bytes) -> bool:
        """Send `data` to every subscriber of `channel`; False if the bus could not take it."""
        raise NotImplementedError

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> bool:
        """Send several (channel, data) messages in this order; False if the bus could not take them all.
        One round trip over Redis, where a change announces more than one thing (a booking and its notices)."""
        sent = True
        for channel, data in messages:
            sent = await self.publish(channel, data) and sent
        return sent


class MemoryBus(Bus):
    """One process: events go through a queue drained by one task, preserving order."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus-memory")

    async def publish(self, channel: str, data: bytes) -> bool:
        self._queue.put_nowait((channel, data))
        return True

    async def _run(self) -> None:
        while True:
            channel, data = await self._queue.get()
            await self._dispatch(channel, data)


class RedisBus(Bus):
    """Redis pub/sub with a listener that reconnects and resubscribes by itself."""

    def __init__(self, redis: Redis, prefix: str, *, max_backoff: float = 2.0) -> None:
        super().__init__()
        self._redis = redis
        self._prefix = f"{prefix}:bus:"
        self._max_backoff = max_backoff
        self._pubsub: PubSub | None = None
        self.subscribed = asyncio.Event()

    async def subscribe(self, channel: str, handler: Handler) -> None:
        new = channel not in self._handlers
        await super().subscribe(channel, handler)
        if new and self._pubsub is not None and self.subscribed.is_set():
            try:
                await self._pubsub.subscribe(self._prefix + channel)
            except (RedisError, OSError):
                log.debug("subscribe deferred to the reconnecting listener", extra={"channel": channel})

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="bus-redis")
        await asyncio.wait_for(self.subscribed.wait(), timeout=10)

    async def publish(self, channel: str, data: bytes) -> bool:
        return await self.publish_many([(channel, data)])

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> bool:
        if not messages:
            return True
        try:
            if len(messages) == 1:
                await self._redis.publish(self._prefix + messages[0][0], messages[0][1])
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, data in messages:
                        pipe.publish(self._prefix + channel, data)
                    await pipe.execute()
            return True
        except (RedisError, OSError):
            log.warning("bus publish failed; consumers will recover from the database",
                        extra={"channel": messages[0][0]})
            return False

    async def _listen(self) -> None:
        backoff = 0.05
        first = True
        while True:
            pubsub = self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                channels = [self._prefix + c for c in self._handlers]
                if channels:
                    await pubsub.subscribe(*channels)
                else:
                    await pubsub.ping()
                self.subscribed.set()
                if not first:
                    log.info("bus reconnected", extra={"event": "bus_reconnected"})
                    for callback in self._on_reconnect:
                        try:
                            await callback()
                        except Exception:
                            log.exception("bus reconnect callback failed")
                first, backoff = False, 0.05
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        await self._dispatch(message["channel"].decode()[len(self._prefix) :], message["data"])
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("bus connection lost", extra={"event": "bus_disconnected", "error_type": type(exc).__name__, "retry_in": backoff})
                await asyncio.sleep(backoff)
                backoff = min(self._max_backoff, backoff * 2)
            finally:
                self._pubsub = None
                await pubsub.aclose()
