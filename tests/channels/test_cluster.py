"""Two real server processes sharing PostgreSQL and Redis: messages cross, recovery has no gap."""

from __future__ import annotations

import asyncio

import pytest

from ..support.eventually import eventually, holds
from ..support.proxy import balancer as make_balancer
from .conftest import joined_pair, pair


@pytest.fixture
async def two(start_server, redis_env):
    return await start_server(**redis_env), await start_server(**redis_env)


async def test_messages_cross_processes_in_order(two, clients, realtime):
    a, b = two
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    for i in range(30):
        await (ra if i % 2 == 0 else rb).send(cid, f"m{i}")
    await eventually(lambda: holds(len(ra.received[cid]) == 30 and len(rb.received[cid]) == 30))
    for r in (ra, rb):
        assert [m["seq"] for m in r.received[cid]] == list(range(1, 31))
        assert [m["body"] for m in r.received[cid]] == [f"m{i}" for i in range(30)]


async def test_concurrent_sends_on_two_processes_are_gap_free_and_ordered_for_everyone(two, clients, realtime):
    a, b = two
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    sent = await asyncio.gather(*(r.send(cid, f"x{i}") for i in range(25) for r in (ra, rb)))
    assert sorted(m["seq"] for m in sent) == list(range(1, 51))
    await eventually(lambda: holds(len(ra.received[cid]) == 50 and len(rb.received[cid]) == 50))
    for r in (ra, rb):
        assert [m["seq"] for m in r.received[cid]] == list(range(1, 51))


async def test_recovery_after_a_client_disconnects_has_no_gap_or_duplicate(two, clients, realtime):
    a, b = two
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    for i in range(5):
        await ra.send(cid, f"before{i}")
    await eventually(lambda: holds(len(rb.received[cid]) == 5))
    await rb.sio.disconnect()
    for i in range(7):
        await ra.send(cid, f"offline{i}")
    await rb.connect()
    await rb.join(cid)
    for i in range(3):
        await ra.send(cid, f"after{i}")
    await eventually(lambda: holds(len(rb.received[cid]) == 15))
    assert [m["seq"] for m in rb.received[cid]] == list(range(1, 16))


async def test_recovery_after_a_server_process_is_killed_mid_stream(start_server, redis_env, clients, realtime):
    a = await start_server(**redis_env)
    b = await start_server(**redis_env)
    balancer = make_balancer([b.port, a.port])  # the receiver's first connection lands on b
    await balancer.start()
    try:
        alice, bob, cid = await pair(clients, a.url, a.url)
        sender = await realtime(alice)
        through_balancer = clients(balancer.url)
        through_balancer.session = bob.session
        receiver = await realtime(through_balancer)
        await sender.join(cid)
        await receiver.join(cid)
        total = 120

        async def produce() -> None:
            for i in range(total):
                await sender.send(cid, f"n{i}")
                await asyncio.sleep(0.005)

        producing = asyncio.create_task(produce())
        await eventually(lambda: holds(len(receiver.received[cid]) >= 30))
        await b.kill()  # SIGKILL: no goodbye to anyone
        await producing
        await eventually(lambda: holds(len(receiver.received[cid]) >= total), timeout=20)
        # One more message as a probe: once it is in, anything (a duplicate) sent before it would be too.
        await sender.send(cid, "probe")
        await eventually(lambda: holds(receiver.received[cid][-1]["body"] == "probe"))
        assert [m["seq"] for m in receiver.received[cid]] == list(range(1, total + 2))
        await receiver.close()  # before the balancer goes, or the client starts reconnecting to a closed port
    finally:
        await balancer.stop()


async def test_read_receipts_never_move_backwards_and_reach_the_other_member(two, clients, realtime):
    a, b = two
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    for i in range(6):
        await ra.send(cid, f"r{i}")
    assert await rb.read(cid, 5) == 5
    receipt = await ra.next_event("receipt:read")
    assert receipt == {"conversation_id": cid, "user_id": bob.session.user_id, "seq": 5}
    assert await rb.read(cid, 2) == 5          # never backwards
    assert await rb.read(cid, 99) == 6         # never past the newest message
    listing = await bob.call("GET", "/conversations")
    mine = next(c for c in listing["conversations"] if c["id"] == cid)
    assert (mine["read_seq"], mine["unread"]) == (6, 0)
    unread = await alice.call("GET", "/conversations/unread")
    assert unread == {"total": 6, "conversations": {cid: 6}}


async def test_typing_reaches_the_other_member_and_is_throttled(two, clients, realtime):
    a, b = two
    alice, bob, cid, ra, rb = await joined_pair(clients, realtime, a.url, b.url)
    first = await ra.typing(cid)
    second = await ra.typing(cid)
    assert (first["throttled"], second["throttled"]) == (False, True)
    got = await rb.next_event("typing")
    assert got == {"conversation_id": cid, "user_id": alice.session.user_id, "state": "start"}
    await ra.typing(cid, "stop")
    assert (await rb.next_event("typing"))["state"] == "stop"
