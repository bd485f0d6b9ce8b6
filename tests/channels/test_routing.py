"""Per-conversation routing over Redis sharded pub/sub: a process hears only what its sockets care about,
delivers its own messages locally first, and every socket still gets every message once, in order."""

from __future__ import annotations

import asyncio
import random
import re
from urllib.parse import urlsplit

import pytest

from channels.hub import PUSH_ROUTED_MAX
from klear_client import Session

from ..conftest import PASSWORD, signed_up
from ..support.eventually import eventually, holds
from ..support.proxy import TcpProxy
from ..support.redis_cluster import RedisClusterServers
from .conftest import joined_pair


async def _metric(clients, url: str, name: str, kind: str | None = None) -> float:
    """One sample of /metrics (0 if absent): `name`, with label kind="`kind`" if given."""
    text = (await clients(url).raw("GET", "/metrics")).raw.decode()
    label = r"\{kind=\"" + re.escape(kind) + r"\"\}" if kind is not None else ""
    found = re.search("^" + re.escape(name) + label + r" ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _race_joins_with_messages(ra, rb, cid: str, rounds: int) -> int:
    """Both members send concurrently while the second leaves and rejoins over and over; returns the count sent."""
    sent = 0

    async def send(r, tag: str) -> None:
        nonlocal sent
        for i in range(rounds):
            await r.send(cid, f"{tag}{i}")
            sent += 1
            await asyncio.sleep(random.random() / 200)

    async def churn() -> None:
        for _ in range(rounds // 3):
            await rb.call("conversation:leave", {"conversation_id": cid})
            await asyncio.sleep(random.random() / 100)
            await rb.join(cid)

    await asyncio.gather(send(ra, "a"), send(rb, "b"), churn())
    return sent


def _exactly_once_in_order(r, cid: str, total: int) -> None:
    assert [m["seq"] for m in r.received[cid]] == list(range(1, total + 1))


async def test_members_on_two_processes_get_every_message_once_in_order_while_joins_race(
    start_server, redis_env, clients, realtime,
):
    a, b, idle = [await start_server(**redis_env) for _ in range(3)]
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    total = await _race_joins_with_messages(ra, rb, cid, 30)
    await rb.join(cid)  # the last leave may have been the last word: a final join recovers what followed
    await eventually(lambda: holds(len(ra.received[cid]) == total and len(rb.received[cid]) == total,
                                   (len(ra.received[cid]), len(rb.received[cid]), total)))
    for r in (ra, rb):
        _exactly_once_in_order(r, cid, total)
    # Each side heard the other's messages over the bus, never its own; the idle process heard none.
    assert 0 < await _metric(clients, b.url, "klear_bus_messages_received_total", "chat") <= total
    assert await _metric(clients, a.url, "klear_bus_messages_published_total", "chat") >= 30
    assert await _metric(clients, idle.url, "klear_bus_messages_received_total", "chat") == 0
    assert await _metric(clients, a.url, "klear_bus_shard_subscriptions") >= 1
    assert await _metric(clients, idle.url, "klear_bus_shard_subscriptions") == 0


async def test_receipts_typing_and_presence_reach_only_the_processes_with_a_member(
    start_server, redis_env, clients, realtime,
):
    a, b, idle = [await start_server(**redis_env) for _ in range(3)]
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    await ra.send(cid, "hello")
    await eventually(lambda: holds(len(rb.received[cid]) == 1))
    await rb.typing(cid)
    assert (await ra.next_event("typing"))["user_id"] == bob.session.user_id
    await rb.call("receipt:read", {"conversation_id": cid, "seq": 1})
    receipt = await ra.next_event("receipt:read")
    assert (receipt["user_id"], receipt["seq"]) == (bob.session.user_id, 1)
    await rb.call("presence:set", {"state": "away"})
    while (seen := await ra.next_event("presence", timeout=10))["state"] != "away":
        pass
    assert seen["user_id"] == bob.session.user_id
    # Typing and receipts crossed on the conversation's channel, presence on alice's user channel.
    assert await _metric(clients, a.url, "klear_bus_messages_received_total", "chat") >= 2
    assert await _metric(clients, a.url, "klear_bus_messages_received_total", "user") >= 1
    for kind in ("chat", "user", "booking", "feed", "sio"):
        assert await _metric(clients, idle.url, "klear_bus_messages_received_total", kind) == 0, kind


async def test_the_presence_of_someone_with_many_contacts_reaches_each_of_them_on_every_process(
    start_server, redis_env, clients, realtime, admin_email,
):
    """Past PUSH_ROUTED_MAX contacts a presence change is one broadcast instead of a routed message each:
    still exactly the contacts hear it, on whichever process they are, and nobody else does."""
    a, b = await start_server(**redis_env), await start_server(**redis_env)
    admin = clients(a.url)
    await admin.login(admin_email, PASSWORD)
    made = (await admin.create_test_users(clients=PUSH_ROUTED_MAX + 2, practitioners=1))["users"]
    host = clients(a.url)
    host.session = Session.of_test_user(next(u for u in made if u["role"] == "practitioner"))
    contacts = []
    for user in (u for u in made if u["role"] == "client"):
        contact = clients(b.url if len(contacts) % 2 else a.url)
        contact.session = Session.of_test_user(user)
        await host.accept_conversation((await contact.request_conversation(host.session.user_id))["id"])
        contacts.append(contact)
    stranger = await signed_up(clients(b.url))
    watching = [await realtime(contacts[0]), await realtime(contacts[1]), await realtime(stranger)]  # on a, b, b

    hosting = await realtime(host)
    await hosting.call("presence:set", {"state": "away"})
    for rt in watching[:2]:
        while (seen := await rt.next_event("presence", timeout=10))["user_id"] != host.session.user_id or \
                seen["state"] != "away":
            pass
    await asyncio.sleep(0.5)
    heard = [e for name, e in _drain(watching[2]) if name == "presence"]
    assert host.session.user_id not in [e["user_id"] for e in heard], "a stranger hears nothing of it"


def _drain(rt) -> list[tuple[str, object]]:
    out = []
    while not rt.events.empty():
        out.append(rt.events.get_nowait())
    return out


async def test_a_process_stops_listening_when_its_last_member_leaves(start_server, redis_env, clients, realtime):
    a, b = await start_server(**redis_env), await start_server(**redis_env)
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    await ra.send(cid, "while both are in")
    await eventually(lambda: holds(len(rb.received[cid]) == 1))
    heard = await _metric(clients, b.url, "klear_bus_messages_received_total", "chat")
    await rb.call("conversation:leave", {"conversation_id": cid})
    for i in range(5):
        await ra.send(cid, f"after the leave {i}")
    await eventually(lambda: holds(len(ra.received[cid]) == 6))
    await rb.join(cid)  # recovery, from PostgreSQL
    await eventually(lambda: holds(len(rb.received[cid]) == 6))
    _exactly_once_in_order(rb, cid, 6)
    assert await _metric(clients, b.url, "klear_bus_messages_received_total", "chat") == heard


async def test_a_burst_wider_than_the_redis_pool_waits_for_connections_and_loses_nothing(
    start_server, redis_env, clients, realtime,
):
    """With two Redis connections per process and dozens of sends at once, every command waits for a
    connection instead of failing, so no announcement is lost and nothing falls back per process."""
    env = {**redis_env, "KLEAR_REDIS_POOL_MAX": "2"}
    a, b = await start_server(**env), await start_server(**env)
    pairs = [await joined_pair(clients, realtime, a.url, b.url) for _ in range(6)]
    per_pair = 6

    async def burst(ra, cid: str) -> None:
        await asyncio.gather(*(ra.send(cid, f"m{i}") for i in range(per_pair)))

    await asyncio.gather(*(burst(ra, cid) for _, _, cid, ra, _ in pairs))
    await eventually(lambda: holds(all(len(rb.received[cid]) == per_pair for _, _, cid, _, rb in pairs),
                                   [len(rb.received[cid]) for _, _, cid, _, rb in pairs]))
    for _, _, cid, _, rb in pairs:
        _exactly_once_in_order(rb, cid, per_pair)
    events = {line.get("event") for server in (a, b) for line in server.logs}
    assert not events & {"bus_publish_failed", "ratelimit_fallback"}
    assert await _metric(clients, a.url, "klear_bus_unsent") == 0


async def test_announcements_a_process_could_not_publish_are_sent_when_its_redis_returns(
    start_server, redis_env, clients, realtime,
):
    """Only the sender's process loses Redis: the receiver's listener never breaks, so it has no reason to
    catch up. The sender holds what it could not publish and sends it, in order, once Redis is back."""
    parts = urlsplit(redis_env["REDIS_URL"])
    proxy = TcpProxy([(parts.hostname or "127.0.0.1", parts.port or 6379)])
    await proxy.start()
    try:
        a = await start_server(**{**redis_env, "REDIS_URL": f"redis://127.0.0.1:{proxy.port}{parts.path}"})
        b = await start_server(**redis_env)
        alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
        await ra.send(cid, "before")
        await eventually(lambda: holds(len(rb.received[cid]) == 1))

        await proxy.cut()
        for i in range(3):
            await ra.send(cid, f"held{i}")  # acked: stored in PostgreSQL; its announcement waits
        await eventually(lambda: holds(any(line.get("event") == "bus_publish_failed" for line in a.logs)))
        await asyncio.sleep(0.5)
        assert len(rb.received[cid]) == 1
        await proxy.restore()

        await eventually(lambda: holds(len(rb.received[cid]) == 4, len(rb.received[cid])), timeout=15)
        assert [m["body"] for m in rb.received[cid]] == ["before", "held0", "held1", "held2"]
        _exactly_once_in_order(rb, cid, 4)
        assert await _metric(clients, a.url, "klear_bus_unsent") == 0
    finally:
        await proxy.stop()


@pytest.fixture
async def redis_cluster():
    cluster = RedisClusterServers()
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()


async def test_chat_across_processes_on_a_redis_cluster_survives_a_master_failover(
    start_server, redis_env, redis_cluster, clients, realtime,
):
    env = {**redis_env, "REDIS_URL": redis_cluster.url}
    a, b = await start_server(**env), await start_server(**env)
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    for i in range(10):
        await (ra if i % 2 == 0 else rb).send(cid, f"before{i}")
    await eventually(lambda: holds(len(ra.received[cid]) == 10 and len(rb.received[cid]) == 10))
    assert await _metric(clients, b.url, "klear_bus_messages_received_total", "chat") == 5

    await redis_cluster.kill_master_of(f"{env['KLEAR_REDIS_PREFIX']}:bus:chat:{cid}")
    for i in range(10):
        await (ra if i % 2 == 0 else rb).send(cid, f"after{i}")  # acked: stored, whatever the bus did
    await eventually(lambda: holds(len(ra.received[cid]) == 20 and len(rb.received[cid]) == 20,
                                   (len(ra.received[cid]), len(rb.received[cid]))), timeout=30)
    for r in (ra, rb):
        _exactly_once_in_order(r, cid, 20)
