"""Redis restarts: the listeners resubscribe, what was sent or revoked meanwhile is caught up from PostgreSQL,
and what needs Redis says so instead of failing."""

from __future__ import annotations

import asyncio

import aiohttp

from klear_client import Realtime

from ..conftest import signed_up
from ..support.eventually import eventually, holds
from ..support.redis import RedisServer
from .conftest import pair


async def test_messages_sent_while_redis_is_down_still_arrive_and_live_delivery_resumes(start_server, clients, realtime):
    redis = RedisServer()
    await redis.start()
    try:
        env = {"REDIS_URL": redis.url, "KLEAR_REDIS_PREFIX": "outage"}
        a = await start_server(**env)
        b = await start_server(**env)
        alice, bob, cid = await pair(clients, a.url, b.url)
        ra, rb = await realtime(alice), await realtime(bob)
        await ra.join(cid)
        await rb.join(cid)
        await ra.send(cid, "before")
        await eventually(lambda: holds(len(rb.received[cid]) == 1))

        await redis.stop()
        for i in range(3):
            await ra.send(cid, f"during{i}")  # stored in PostgreSQL; the announcement is lost
        await asyncio.sleep(0.5)
        await redis.start()

        await eventually(lambda: holds(len(rb.received[cid]) == 4), timeout=15)
        await ra.send(cid, "after")
        await eventually(lambda: holds(len(rb.received[cid]) == 5), timeout=10)
        assert [m["body"] for m in rb.received[cid]] == ["before", "during0", "during1", "during2", "after"]
        assert [m["seq"] for m in rb.received[cid]] == [1, 2, 3, 4, 5]
        # Socket.IO's own cross-process events flow again as well.
        await rb.typing(cid)
        assert (await ra.next_event("typing"))["user_id"] == bob.session.user_id
    finally:
        await redis.stop()


async def test_a_logout_while_redis_is_down_disconnects_that_sessions_sockets_everywhere_once_it_is_back(
    start_server, clients,
):
    redis = RedisServer()
    await redis.start()
    try:
        env = {"REDIS_URL": redis.url, "KLEAR_REDIS_PREFIX": "revoke"}
        a = await start_server(**env)
        b = await start_server(**env)
        leaving = await signed_up(clients(a.url))
        staying = await signed_up(clients(a.url))
        sockets = {}
        for name, user in (("leaving", leaving), ("staying", staying)):
            on_b = clients(b.url)
            on_b.session = user.session
            sockets[name] = Realtime(on_b, reconnect=False)
            await sockets[name].connect()

        await redis.stop()
        await leaving.logout()  # stored in PostgreSQL; the announcement to process b is lost
        await redis.start()

        revoked = await sockets["leaving"].next_event("auth:expired", timeout=15)
        assert revoked["code"] == "token_revoked"
        await sockets["leaving"].next_event("disconnect", timeout=5)
        assert sockets["staying"].sio.connected  # only the revoked session's sockets go
        assert (await sockets["staying"].call("presence:set", {"state": "away"}))["state"] == "away"
        for rt in sockets.values():
            await rt.close()
    finally:
        await redis.stop()


async def test_presence_over_rest_answers_503_in_the_error_shape_while_redis_is_down(start_server, clients, realtime):
    redis = RedisServer()
    await redis.start()
    try:
        server = await start_server(REDIS_URL=redis.url, KLEAR_REDIS_PREFIX="presence-outage")
        alice, bob, _ = await pair(clients, server.url)
        await realtime(alice)
        await redis.stop()
        async with aiohttp.ClientSession() as http, http.get(
            f"{server.url}/api/v1/presence", params={"user_ids": alice.session.user_id},
            headers={"Authorization": f"Bearer {bob.session.access_token}"},
        ) as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["error"]["code"] == "unavailable" and body["error"]["message"]
        await redis.start()

        async def answers_again() -> None:
            listing = await bob.call("GET", "/presence", params={"user_ids": alice.session.user_id})
            holds(listing["users"][0]["state"] in ("online", "offline"), listing)

        await eventually(answers_again, timeout=15)
        await server.logs_flushed()
        assert not [e for e in server.logs if e.get("status", 0) >= 500 and e.get("status") != 503]
    finally:
        await redis.stop()
