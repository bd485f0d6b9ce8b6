"""The event bus over Redis survives a Redis restart: it reconnects, resubscribes and says so."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from storage.bus import MemoryBus, RedisBus

from .support.redis import RedisServer


async def _collect(bus, channel):
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def handler(_: str, data: bytes) -> None:
        await got.put(data)

    await bus.subscribe(channel, handler)
    return got


async def test_memory_bus_delivers_in_order():
    bus = MemoryBus()
    got = await _collect(bus, "c")
    await bus.start()
    try:
        for i in range(100):
            await bus.publish("c", str(i).encode())
        await bus.publish_many([("c", b"100"), ("c", b"101")])
        assert [await asyncio.wait_for(got.get(), 1) for _ in range(102)] == [str(i).encode() for i in range(102)]
    finally:
        await bus.stop()


async def test_redis_bus_reaches_every_subscriber_process(redis_url):
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    buses = [RedisBus(c, "bus-test-fanout") for c in clients]
    queues = [await _collect(b, "events") for b in buses]
    for b in buses:
        await b.start()
    try:
        assert await buses[0].publish("events", b"hello")
        for q in queues:
            assert await asyncio.wait_for(q.get(), 2) == b"hello"
        # Several messages in one round trip arrive as separate messages, in order.
        assert await buses[1].publish_many([("events", b"one"), ("events", b"two"), ("events", b"three")])
        for q in queues:
            assert [await asyncio.wait_for(q.get(), 2) for _ in range(3)] == [b"one", b"two", b"three"]
    finally:
        for b, c in zip(buses, clients):
            await b.stop()
            await c.aclose()


async def test_redis_bus_reconnects_and_resubscribes_after_a_redis_restart():
    redis = RedisServer()
    await redis.start()
    client = Redis.from_url(redis.url)
    bus = RedisBus(client, "bus-test", max_backoff=0.2)
    got = await _collect(bus, "events")
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    bus.on_reconnect(on_reconnect)
    await bus.start()
    try:
        await bus.publish("events", b"before")
        assert await asyncio.wait_for(got.get(), 2) == b"before"

        await redis.stop()
        assert not await bus.publish("events", b"lost while down")
        await redis.start()
        await asyncio.wait_for(reconnected.wait(), 10)
        await asyncio.wait_for(bus.subscribed.wait(), 5)

        await bus.publish("events", b"after")
        assert await asyncio.wait_for(got.get(), 2) == b"after"
    finally:
        await bus.stop()
        await client.aclose()
        await redis.stop()
