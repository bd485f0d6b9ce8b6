"""The channels component: the live services of one process, started whole on the hub the app was built with.

`running(...)` is entered by the server once the database, Redis and bus are
up; it builds chat, presence, live bookings and socket sessions with what
they need (nothing of the server: token checking arrives as `authenticate`),
then lets the hub admit sockets. On the way out the hub closes every socket
first, while the services can still see them go, then the services stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client.registry import CollectorRegistry
from redis.asyncio import Redis

from storage.bus import Bus
from storage.database import Database
from storage.ratelimit import RateLimiter

from .chat import Chat
from .hub import Hub
from .identity import Authenticate
from .live import Live
from .presence import Presence
from .presence_store import MemoryPresence, PresenceStore, RedisPresence
from .sessions import SocketSessions
from .settings import ChannelsSettings
from .socket_metrics import SocketMetrics


@dataclass(frozen=True, slots=True)
class Channels:
    """The running channels of this process: the hub and the services registered on it."""

    hub: Hub
    sessions: SocketSessions
    chat: Chat
    live: Live
    presence: Presence


def presence_store(redis: Redis | None, redis_prefix: str, ttl: float) -> PresenceStore:
    """Presence shared through Redis, or kept in memory by a process that runs alone."""
    return RedisPresence(redis, redis_prefix, ttl) if redis is not None else MemoryPresence(ttl)


@asynccontextmanager
async def running(
    hub: Hub, *, db: Database, bus: Bus, redis: Redis | None, redis_prefix: str, limiter: RateLimiter,
    authenticate: Authenticate, settings: ChannelsSettings, registry: CollectorRegistry,
) -> AsyncIterator[Channels]:
    """Run chat, presence, live bookings and socket sessions on `hub`, and serve sockets, until the block exits."""
    lanes = max(1, db.pool.get_max_size() // 2)  # group commit: half the pool writes messages at most
    store = presence_store(redis, redis_prefix, settings.presence_ttl)
    async with (
        SocketSessions.running(hub, db, bus, authenticate) as sessions,
        Chat.running(hub, db, bus, limiter, settings.chat_rate, lanes=lanes) as chat,
        Live.running(hub, db, bus) as live,
        Presence.running(hub, db, store, settings.presence_ttl, limiter, settings.presence_rate) as presence,
        hub.serving(bus, authenticate),
    ):
        metrics = SocketMetrics(hub)
        registry.register(metrics)
        try:
            yield Channels(hub, sessions, chat, live, presence)
        finally:
            registry.unregister(metrics)
