"""The event bus: domain events between processes, over Redis pub/sub (sharded where routed) or in memory.

Two kinds of channel:

- broadcast channels (`subscribe`/`publish`): every process listens for as long
  as it runs, and hears its own messages too (auth revocations, Socket.IO's
  manager, the video relay's per-process channel);
- routed channels (`route`/`unroute`/`route_many`): one per conversation,
  booking, feed or user. A process listens only while some local socket cares,
  so its cost follows its own members, not the cluster's traffic. The sender
  delivers to its own handlers directly (no Redis round trip) and publishes for
  the others; its own publication comes back tagged with its origin id and is
  dropped, so nothing is handled twice.

Routed channels use Redis 7 sharded pub/sub (SSUBSCRIBE/SPUBLISH), so the same
code runs on one Redis or a Redis Cluster, where each channel lives on the
shard that owns its slot. Broadcast channels use classic pub/sub, which a
cluster passes to every node: every process hears them anyway. Without Redis
it is an in-process queue with the same interface.

Pub/sub is fire-and-forget: an event published while a listener is
reconnecting is gone. Consumers that must not lose events (chat, booking
updates) therefore keep the durable copy in PostgreSQL and use the bus only to
wake listeners; `on_reconnect` callbacks tell them when to catch up from the
database after an outage. A routed subscription returns once Redis confirmed
it, so a caller that reads the database afterwards misses nothing.

A publication this process could not hand to Redis is not dropped when it was
routed (or published with `retry=True`): it waits, in order, and is sent again
with backoff until Redis takes it. Otherwise a listener whose own connection
never broke would not learn of it until the stream's next item (a receiver
catches up by seq only when it sees a gap or reconnects).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .redis_batch import Batched

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]
ReconnectHandler = Callable[[], Awaitable[None]]
AnyRedis = Redis | RedisCluster
CONFIRM_TIMEOUT = 2.0
_ORIGIN = 16  # bytes of origin id in front of a routed message
MAX_UNSENT = 10_000  # publications waiting for Redis to come back; beyond it the oldest go
_RESEND_BATCH = 500


def kind_of(channel: str) -> str:
    """A channel's kind for metrics: `chat` for `chat:<id>`, the name itself for a broadcast channel."""
    return channel.split(":", 1)[0]


class Bus:
    """Shared behaviour: the handler tables, local delivery, counters and the reconnect callbacks."""

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._routes: dict[str, list[Handler]] = {}
        self._on_reconnect: list[ReconnectHandler] = []
        self._task: asyncio.Task[None] | None = None
        self.origin = uuid.uuid4().bytes
        self.received: Counter[str] = Counter()
        self.published: Counter[str] = Counter()

    @property
    def shard_subscriptions(self) -> int:
        """Routed channels this process listens to now."""
        return len(self._routes)

    @property
    def unsent(self) -> int:
        """Publications waiting for Redis to take them (none without Redis)."""
        return 0

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(channel, data)` for every later event on broadcast `channel`."""
        self._handlers[channel].append(handler)

    async def route(self, channel: str, handler: Handler) -> None:
        """Call `handler` for every later event on routed `channel` published by another process."""
        handlers = self._routes.setdefault(channel, [])
        handlers.append(handler)
        if len(handlers) == 1:
            await self._listen_to(channel)

    def unroute(self, channel: str, handler: Handler) -> None:
        """Stop calling `handler` for `channel`; the subscription ends with its last handler."""
        handlers = self._routes.get(channel)
        if handlers is None or handler not in handlers:
            return
        handlers.remove(handler)
        if not handlers:
            del self._routes[channel]
            self._stop_listening(channel)

    async def _listen_to(self, channel: str) -> None:
        """Start hearing routed `channel` from other processes (nothing to do in one process)."""

    def _stop_listening(self, channel: str) -> None:
        """Stop hearing routed `channel`."""

    def on_reconnect(self, callback: ReconnectHandler) -> None:
        """Call `callback()` after the bus recovers from a lost connection."""
        self._on_reconnect.append(callback)

    async def _dispatch(self, handlers: Sequence[Handler], channel: str, data: bytes) -> None:
        self.received[kind_of(channel)] += 1
        for handler in list(handlers):
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

    async def publish(self, channel: str, data: bytes, *, retry: bool = False) -> bool:
        """Send `data` to every subscriber of broadcast `channel`; False if it did not go now (with `retry`, it
        goes later, in order, once Redis takes it)."""
        return await self.publish_many([(channel, data)], retry=retry)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]], *, retry: bool = False) -> bool:
        """Send several (channel, data) broadcast messages in this order; False if they did not all go now.
        One round trip over Redis, where a change announces more than one thing."""
        raise NotImplementedError

    async def route_many(self, messages: Sequence[tuple[str, bytes]], *, here: bool = True) -> bool:
        """Send routed messages: first to this process's handlers (if `here`; a caller that delivered locally
        itself passes False), then to the other processes listening; False if Redis could not take them."""
        if here:
            for channel, data in messages:
                handlers = self._routes.get(channel)
                if handlers:
                    await self._dispatch(handlers, channel, data)
        return await self._send_routed(messages)

    async def _send_routed(self, messages: Sequence[tuple[str, bytes]]) -> bool:
        return True


class MemoryBus(Bus):
    """One process: broadcasts go through a queue drained by one task, preserving order; routed messages have
    no other process to reach."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus-memory")

    async def publish_many(self, messages: Sequence[tuple[str, bytes]], *, retry: bool = False) -> bool:
        for message in messages:
            self._queue.put_nowait(message)
        return True

    async def _run(self) -> None:
        while True:
            channel, data = await self._queue.get()
            await self._dispatch(self._handlers.get(channel, ()), channel, data)


@dataclass(slots=True)
class _Shard:
    """One pub/sub connection: to the single Redis, or to the cluster master that owns some of our channels."""

    pubsub: PubSub
    client: Redis  # the bus's own, closed with the shard
    reader: asyncio.Task[None] | None = None


class RedisBus(Bus):
    """Redis (or Redis Cluster) sharded pub/sub, with listeners that reconnect and resubscribe by themselves.

    One reader task per shard connection (one on a single Redis, one per master
    owning a channel on a cluster), so a quiet shard never delays a busy one.
    Any reader's connection error restarts them all: after the reconnect the
    callbacks catch up from the database, whatever shard was lost.
    """

    def __init__(self, redis: AnyRedis, prefix: str, *, max_backoff: float = 2.0, batched: Batched | None = None) -> None:
        """`batched`: the process's shared pipeline to Redis (its own if not given)."""
        super().__init__()
        self._redis = redis
        self._batched = batched or Batched(redis)
        self._prefix = f"{prefix}:bus:"
        self._max_backoff = max_backoff
        self._shards: dict[str, _Shard] = {}
        self._lock = asyncio.Lock()  # one (un)subscribe command at a time, and none while reconnecting
        self._confirming: dict[str, asyncio.Future[None]] = {}
        self._failed = asyncio.Event()
        self._dropped: set[str] = set()
        self._wake = asyncio.Event()
        self._janitor: asyncio.Task[None] | None = None
        self._unsent: deque[tuple[str, bytes, bool]] = deque()  # (full channel name, data, sharded)
        self._unsent_wake = asyncio.Event()
        self._resender: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def subscribe(self, channel: str, handler: Handler) -> None:
        new = channel not in self._handlers
        await super().subscribe(channel, handler)
        if new:
            await self._listen_to(channel)

    def _broadcast(self, name: str) -> bool:
        return name[len(self._prefix) :] in self._handlers

    def _shard_key(self, name: str) -> str:
        if not isinstance(self._redis, RedisCluster):
            return "redis"
        if self._broadcast(name):  # classic pub/sub: a cluster passes it to every node, so any node will do
            return str(self._redis.get_default_node().name)
        return str(self._redis.get_node_from_key(name).name)  # the master owning the channel's slot

    def _shard_client(self, key: str) -> Redis:
        """A connection of the bus's own for one shard: never back in the publishers' pool, where it would be
        the stale connection a publish picks up after Redis restarted."""
        if isinstance(self._redis, RedisCluster):
            host, port = key.rsplit(":", 1)  # a node's name
            kwargs = self._redis.get_connection_kwargs()
            return Redis(host=host, port=int(port), password=kwargs.get("password"),
                         username=kwargs.get("username"), socket_connect_timeout=5, retry=Retry(NoBackoff(), 0))
        pool = self._redis.connection_pool
        kwargs = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}  # a lost one must surface, see _read
        return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))

    def _shard_for(self, name: str) -> _Shard:
        """The shard connection of channel `name`, made if it is the first there."""
        key = self._shard_key(name)
        shard = self._shards.get(key)
        if shard is None:
            client = self._shard_client(key)
            shard = self._shards[key] = _Shard(client.pubsub(), client)
        return shard

    async def _ssubscribe(self, names: Sequence[str]) -> None:
        """SUBSCRIBE the broadcast channels among `names` and SSUBSCRIBE the routed ones, grouped by shard (and by
        slot on a cluster: one command may not span slots)."""
        groups: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
        for name in names:
            slot = -1 if self._broadcast(name) else self._redis.keyslot(name) if isinstance(self._redis, RedisCluster) else 0
            groups[(self._shard_key(name), slot)].append(name)
        for (_, slot), group in groups.items():
            shard = self._shard_for(group[0])
            if slot == -1:
                await shard.pubsub.subscribe(*group)
            else:
                await shard.pubsub.ssubscribe(*group)
            if shard.reader is None:  # only now: reading needs the connection the command opened
                shard.reader = asyncio.create_task(self._read(shard), name="bus-redis-shard")

    async def _listen_to(self, channel: str) -> None:
        self._dropped.discard(channel)
        if not self.subscribed.is_set():
            return  # the reconnecting listener subscribes it, then callbacks catch up from the database
        name = self._prefix + channel
        confirmed = self._confirming.get(name)
        if confirmed is None:
            confirmed = self._confirming[name] = asyncio.get_running_loop().create_future()
            try:
                async with self._lock:
                    await self._ssubscribe([name])
            except (RedisError, OSError):
                self._confirming.pop(name, None)
                self._failed.set()
                log.debug("subscribe deferred to the reconnecting listener", extra={"channel": channel})
                return
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_TIMEOUT)
        except TimeoutError:
            log.warning("subscription not confirmed in time", extra={"channel": channel})

    def _stop_listening(self, channel: str) -> None:
        self._dropped.add(channel)
        self._wake.set()

    async def _unsubscribe_dropped(self) -> None:
        """Unsubscribe, off the caller's path, from routed channels nobody here listens to any more."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            gone = [c for c in self._dropped if c not in self._routes and c not in self._handlers]
            self._dropped.clear()
            if not gone or not self.subscribed.is_set():
                continue
            try:
                async with self._lock:
                    for channel in gone:
                        if channel in self._routes or channel in self._handlers:
                            continue  # routed again while we waited for the lock: its subscription stays
                        name = self._prefix + channel
                        shard = self._shards.get(self._shard_key(name))
                        if shard is not None:
                            await shard.pubsub.sunsubscribe(name)
            except (RedisError, OSError):
                self._failed.set()

    async def start(self) -> None:
        self._janitor = asyncio.create_task(self._unsubscribe_dropped(), name="bus-unsubscribe")
        self._resender = asyncio.create_task(self._resend(), name="bus-resend")
        self._task = asyncio.create_task(self._listen(), name="bus-redis")
        await asyncio.wait_for(self.subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        for task in (self._janitor, self._resender):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._janitor = self._resender = None
        await super().stop()

    @property
    def unsent(self) -> int:
        return len(self._unsent)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]], *, retry: bool = False) -> bool:
        return await self._send([(self._prefix + c, d, False) for c, d in messages], retry=retry)

    async def _send_routed(self, messages: Sequence[tuple[str, bytes]]) -> bool:
        return await self._send([(self._prefix + c, self.origin + d, True) for c, d in messages], retry=True)

    async def _send(self, messages: Sequence[tuple[str, bytes, bool]], *, retry: bool) -> bool:
        """Publish (full name, data, sharded) messages in one round trip; on failure, if `retry`, keep them for
        the resender. While some wait already, new ones queue behind them, so order holds."""
        if not messages:
            return True
        if retry and self._unsent:
            self._hold(messages)
            return False
        try:
            await self._publish_now(messages)
        except (RedisError, OSError) as exc:
            log.warning("bus publish failed", extra={"event": "bus_publish_failed", "error_type": type(exc).__name__,
                                                     "retry": retry, "channel": messages[0][0]})
            if retry:
                self._hold(messages)
            return False
        return True

    async def _publish_now(self, messages: Sequence[tuple[str, bytes, bool]]) -> None:
        """Publish in one pipeline with whatever else this process publishes meanwhile (storage/redis_batch.py)."""
        await asyncio.gather(*(self._batched.execute("SPUBLISH" if sharded else "PUBLISH", name, data)
                               for name, data, sharded in messages))
        for name, _, _ in messages:
            self.published[kind_of(name[len(self._prefix):])] += 1

    def _hold(self, messages: Sequence[tuple[str, bytes, bool]]) -> None:
        self._unsent.extend(messages)
        overflow = len(self._unsent) - MAX_UNSENT
        if overflow > 0:
            for _ in range(overflow):
                self._unsent.popleft()
            log.warning("bus publications dropped while Redis was away; listeners recover by seq",
                        extra={"event": "bus_unsent_dropped", "count": overflow})
        self._unsent_wake.set()

    async def _resend(self) -> None:
        """Send held publications, oldest first, backing off while Redis refuses them."""
        while True:
            await self._unsent_wake.wait()
            self._unsent_wake.clear()
            backoff = 0.05
            while self._unsent:
                batch = [self._unsent[i] for i in range(min(_RESEND_BATCH, len(self._unsent)))]
                try:
                    await self._publish_now(batch)
                except (RedisError, OSError):
                    await asyncio.sleep(backoff)
                    backoff = min(self._max_backoff, backoff * 2)
                    continue
                for _ in batch:
                    self._unsent.popleft()
                backoff = 0.05
            log.info("held bus publications sent", extra={"event": "bus_resent"})

    async def _read(self, shard: _Shard) -> None:
        """Dispatch one shard's messages until its connection fails, which restarts every shard: a pub/sub
        that reconnected by itself would not say what it missed, while our reconnect callbacks catch up."""
        try:
            while True:
                message = await shard.pubsub.get_message(timeout=None)
                if message is not None:
                    await self._received(message)
        except Exception as exc:  # a lost connection mostly; whatever it was, reconnecting recovers
            log.warning("bus connection lost", extra={"event": "bus_disconnected", "error_type": type(exc).__name__})
            self._failed.set()

    async def _received(self, message: dict[str, Any]) -> None:
        kind, name = message["type"], message["channel"]
        name = name.decode() if isinstance(name, bytes) else name
        if kind in ("subscribe", "ssubscribe"):
            future = self._confirming.pop(name, None)
            if future is not None and not future.done():
                future.set_result(None)
            return
        if not name.startswith(self._prefix):
            return
        channel, data = name[len(self._prefix) :], message["data"]
        if kind == "message":
            handlers = self._handlers.get(channel)
            if handlers:
                await self._dispatch(handlers, channel, data)
        elif kind == "smessage":
            routed = self._routes.get(channel)
            if routed and data[:_ORIGIN] != self.origin:
                await self._dispatch(routed, channel, data[_ORIGIN:])

    async def _connect(self) -> None:
        """Open the shard connections and subscribe every channel this process listens to."""
        if isinstance(self._redis, RedisCluster):
            await self._redis.nodes_manager.initialize()  # after a failover, find the new masters
        names = [self._prefix + c for c in [*self._handlers, *self._routes]]
        if not names:
            await self._redis.ping()
        loop = asyncio.get_running_loop()
        confirmed = [self._confirming.setdefault(name, loop.create_future()) for name in names]
        async with self._lock:
            await self._ssubscribe(names)
        try:
            await asyncio.wait_for(asyncio.gather(*confirmed), CONFIRM_TIMEOUT)
        except TimeoutError:
            raise RedisConnectionError("subscriptions not confirmed") from None

    async def _close_shards(self) -> None:
        shards, self._shards = list(self._shards.values()), {}
        readers = [s.reader for s in shards if s.reader is not None and s.reader is not asyncio.current_task()]
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for shard in shards:
            await shard.pubsub.aclose()
            await shard.client.aclose(close_connection_pool=True)
        for future in self._confirming.values():
            if not future.done():
                future.set_result(None)  # the reconnect catches up whatever was missed
        self._confirming.clear()

    async def _listen(self) -> None:
        backoff = 0.05
        first = True
        try:
            while True:
                self._failed.clear()
                try:
                    await self._connect()
                except (RedisError, OSError) as exc:
                    self.subscribed.clear()
                    await self._close_shards()
                    log.warning("bus connection lost", extra={"event": "bus_disconnected",
                                                              "error_type": type(exc).__name__, "retry_in": backoff})
                    await asyncio.sleep(backoff)
                    backoff = min(self._max_backoff, backoff * 2)
                    continue
                self.subscribed.set()
                if not first:
                    log.info("bus reconnected", extra={"event": "bus_reconnected"})
                    for callback in self._on_reconnect:
                        try:
                            await callback()
                        except Exception:
                            log.exception("bus reconnect callback failed")
                first = False
                await self._failed.wait()
                self.subscribed.clear()
                await self._close_shards()
                backoff = 0.05
                await asyncio.sleep(backoff)
        finally:
            self.subscribed.clear()
            await self._close_shards()
