"""Presence: aggregated over devices, shared with contacts, offline soon after a process dies."""

from __future__ import annotations

import time

from klear_client import KlearClient, Realtime

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
    assert gone["state"] == "offline" and gone["last_seen"] and abs(gone["last_seen"] - time.time()) < 30
    status = await _presence_of(bob, alice.session.user_id)
    assert status["state"] == "offline" and status["last_seen"]


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
