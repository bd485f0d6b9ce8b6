"""Routed bus channels: heard only while routed, by other processes only; local handlers first, never twice."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from storage.bus import MemoryBus, RedisBus

from .support.eventually import eventually, holds


def _recorder() -> tuple[list[bytes], object]:
    got: list[bytes] = []

    async def handler(_: str, data: bytes) -> None:
        got.append(data)

    return got, handler


async def test_memory_bus_delivers_routed_messages_to_local_handlers_only_when_asked():
    bus = MemoryBus()
    got, handler = _recorder()
    await bus.route("chat:1", handler)
    await bus.route_many([("chat:1", b"here")])
    await bus.route_many([("chat:1", b"delivered by the caller")], here=False)
    bus.unroute("chat:1", handler)
    await bus.route_many([("chat:1", b"after")])
    assert got == [b"here"]
    assert bus.received["chat"] == 1 and bus.shard_subscriptions == 0


async def test_redis_bus_routes_to_other_processes_that_listen_and_never_back_to_the_sender(redis_url):
    prefix = f"route-{secrets.token_hex(4)}"
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    sender, member, idle = (RedisBus(c, prefix) for c in clients)
    for b in (sender, member, idle):
        await b.start()
    try:
        at_sender, sender_handler = _recorder()
        at_member, member_handler = _recorder()
        control, control_handler = _recorder()
        await sender.route("chat:c", sender_handler)
        await member.route("chat:c", member_handler)
        await idle.route("chat:other", control_handler)
        assert member.shard_subscriptions == 1
        assert await sender.route_many([("chat:c", b"m1"), ("chat:other", b"probe")])
        await eventually(lambda: holds(at_member == [b"m1"] and control == [b"probe"]))
        assert at_sender == [b"m1"]  # once: locally, not again from Redis
        assert idle.received["chat"] == 1  # the probe only: never the conversation it does not route

        member.unroute("chat:c", member_handler)
        assert member.shard_subscriptions == 0

        async def unsubscribed() -> None:
            counts = await clients[0].execute_command("PUBSUB", "SHARDNUMSUB", f"{prefix}:bus:chat:c")
            assert counts[1] == 1, counts  # the sender's subscription only

        await eventually(unsubscribed)
        assert await sender.route_many([("chat:c", b"m2")])
        assert sender.published["chat"] == 3
    finally:
        for b in (sender, member, idle):
            await b.stop()
        for c in clients:
            await c.aclose()
    assert at_member == [b"m1"]
