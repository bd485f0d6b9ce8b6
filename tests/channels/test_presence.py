"""Presence: aggregated over devices, shared with contacts, offline soon after a process dies or a client
freezes, announced without floods."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest

from channels.hub import heartbeat
from klear_client import KlearClient, Realtime

from ..support.eventually import eventually, holds
from ..support.rawws import RawSocketIO
from .conftest import pair


async def _next_presence(rt, user_id: str, timeout: float = 5.0) -> dict:
    """The next presence event about `user_id` (a user also hears about their own devices)."""
    while True:
        event = await rt.next_event("presence", timeout=timeout)
        if event["user_id"] == user_id:
            return event


async def _presence_of(client, user_id: str) -> dict:
    listing = await client.call("GET", "/presence", params={"user_ids": user_id})
    return listing["users"][0] if listing["users"] else {}


async def test_online_away_offline_over_two_devices(server, clients, realtime):
    alice, bob, _ = await pair(clients, server.url)
    watcher = await realtime(bob)
    phone = await realtime(alice)
    seen = await _next_presence(watcher, alice.session.user_id)
    assert seen["state"] == "online"
    laptop = await realtime(alice)
    await phone.set_presence("away")
    assert (await _presence_of(bob, alice.session.user_id))["state"] == "online"  # laptop is still online
    await laptop.set_presence("away")
    assert (await _next_presence(watcher, alice.session.user_id))["state"] == "away"
    await phone.close()
    await laptop.close()
    gone = await _next_presence(watcher, alice.session.user_id)
    assert gone["state"] == "offline" and gone["last_seen"].endswith("Z")
    assert abs(datetime.fromisoformat(gone["last_seen"]).timestamp() - time.time()) < 30
    status = await _presence_of(bob, alice.session.user_id)
    assert status["state"] == "offline"
    # One format on the socket and over REST: the same ISO 8601 UTC instant.
    assert datetime.fromisoformat(status["last_seen"]) == datetime.fromisoformat(gone["last_seen"])
    assert datetime.fromisoformat(status["last_seen"]).tzinfo == timezone.utc


async def test_presence_is_only_shown_to_people_who_share_a_conversation(server, clients, realtime):
    alice, bob, _ = await pair(clients, server.url)
    stranger, _, _ = await pair(clients, server.url)
    await realtime(alice)
    listing = await stranger.call("GET", "/presence", params={"user_ids": alice.session.user_id})
    assert listing["users"] == []
    assert (await _presence_of(bob, alice.session.user_id))["state"] == "online"


async def test_users_of_a_killed_process_go_offline(start_server, redis_env, clients, realtime):
    a = await start_server(KLEAR_PRESENCE_TTL="4", **redis_env)
    b = await start_server(KLEAR_PRESENCE_TTL="4", **redis_env)
    alice, bob, _ = await pair(clients, a.url, b.url)
    watcher = await realtime(bob)
    on_a = KlearClient(a.url)
    on_a.session = alice.session
    victim = Realtime(on_a, reconnect=False)
    await victim.connect()
    assert (await _next_presence(watcher, alice.session.user_id))["state"] == "online"
    killed_at = time.monotonic()
    await a.kill()
    offline = await _next_presence(watcher, alice.session.user_id, timeout=30)
    assert offline["state"] == "offline"
    assert time.monotonic() - killed_at < 4 + 3
    await victim.close()
    await on_a.close()


async def test_default_presence_ttl_keeps_dead_processes_users_offline_within_30s(server_env):
    from server.config import load

    settings = load(env=server_env)
    sweep_every = min(2.0, settings.channels.presence_ttl / 5)
    assert settings.channels.presence_ttl + sweep_every <= 30


def _drain(rt: Realtime, user_id: str) -> list[dict]:
    """Presence events about `user_id` that arrived so far (other events are dropped)."""
    got = []
    while not rt.events.empty():
        name, data = rt.events.get_nowait()
        if name == "presence" and data["user_id"] == user_id:
            got.append(data)
    return got


@pytest.mark.quick
def test_sockets_are_pinged_often_enough_to_keep_the_presence_bound_for_every_ttl():
    for ttl in range(3, 301):
        interval, timeout = heartbeat(ttl)
        assert interval >= 1 and timeout >= 1
        assert interval + timeout + 1 <= ttl, ttl  # + up to a second for the pinger to wake


@pytest.mark.quick
@pytest.mark.slow
async def test_a_frozen_client_goes_offline_within_the_presence_ttl(start_app, clients, realtime):
    app = await start_app(KLEAR_PRESENCE_TTL="4")
    alice, bob, _ = await pair(clients, app.url)
    watcher = await realtime(bob)
    frozen = await RawSocketIO.connect(app.port, alice.session.access_token)  # never reads or answers a ping again
    last_word = time.monotonic()
    try:
        assert (await _next_presence(watcher, alice.session.user_id))["state"] == "online"
        assert (await _next_presence(watcher, alice.session.user_id, timeout=10))["state"] == "offline"
        assert time.monotonic() - last_word <= 4 + 2
    finally:
        await frozen.close()


@pytest.mark.quick
@pytest.mark.slow
async def test_presence_flips_reach_contacts_coalesced_with_the_latest_state(start_app, clients, realtime):
    app = await start_app(KLEAR_PRESENCE_RATE="1000/1")
    alice, bob, _ = await pair(clients, app.url)
    watcher = await realtime(bob)
    flipper = await realtime(alice)
    assert (await _next_presence(watcher, alice.session.user_id))["state"] == "online"
    for i in range(41):
        await flipper.set_presence("away" if i % 2 == 0 else "online")
    seen: list[dict] = []

    def settled_on_away() -> None:
        seen.extend(_drain(watcher, alice.session.user_id))
        holds(bool(seen) and seen[-1]["state"] == "away", seen)

    await eventually(settled_on_away, timeout=5)
    await asyncio.sleep(1.5)  # a quiet interval: nothing more may arrive
    seen.extend(_drain(watcher, alice.session.user_id))
    assert seen[-1]["state"] == "away"
    assert len(seen) <= 3, f"41 flips reached a contact as {len(seen)} events"
    assert (await _presence_of(bob, alice.session.user_id))["state"] == "away"


@pytest.mark.quick
async def test_presence_set_is_rate_limited_with_retry_after(start_app, clients, realtime):
    app = await start_app(KLEAR_PRESENCE_RATE="3/60")
    alice, _, _ = await pair(clients, app.url)
    rt = await realtime(alice)
    for state in ("away", "online", "away"):
        await rt.set_presence(state)
    ack = await rt.sio.call("presence:set", {"state": "online"}, timeout=5)
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    assert 0 < ack["error"]["retry_after"] <= 20
