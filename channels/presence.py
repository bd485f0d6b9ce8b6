"""Presence events: each socket's state kept in the presence store, and changes announced to contacts.

A socket counts as online from its connection until it disconnects or sets
`away` (`presence:set`). This process refreshes its sockets' entries in the
store and sweeps for users whose entries expired (a process that died stops
refreshing); every change of a user's aggregate state is announced to the
user and everyone who shares a conversation with them, on each one's user
channel (`Hub.push`), so only the processes where they have sockets hear it.

Announcements are coalesced per user: after one, further changes of that user
within `COALESCE_SECONDS` are held and only the latest is sent when the
interval ends (none if it is the state already announced), so flipping
states cannot flood contacts. `presence:set` is rate-limited per user too.

Other services hear every change as the store reports it, before coalescing
(`on_change`: the "available now" marker, channels/available_now.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import RedisError

from storage import conversations
from storage.database import Database
from storage.errors import Refusal
from storage.ratelimit import RateLimiter
from storage.settings import Rate

from .connections import Conn
from .hub import Hub
from .interface import EventError, ok
from .payloads import PresenceSet
from .presence_store import Change, PresenceStore, Status
from .times import iso_time

log = logging.getLogger(__name__)
COALESCE_SECONDS = 1.0
ChangeListener = Callable[[Change], Awaitable[None]]


class Presence:
    """Presence of this process's sockets, in a store shared by every process."""

    def __init__(
        self, hub: Hub, db: Database, store: PresenceStore, ttl: float, limiter: RateLimiter, rate: Rate
    ) -> None:
        self._hub = hub
        self._db = db
        self._store = store
        self._ttl = ttl
        self._limiter = limiter
        self._rate = rate
        self._announced: dict[uuid.UUID, tuple[float, str]] = {}  # user -> (when, state) last announced here
        self._held: dict[uuid.UUID, Change] = {}  # user -> latest change waiting for its interval to end
        self._flushes: set[asyncio.Task[None]] = set()
        self._listeners: list[ChangeListener] = []
        hub.on("presence:set", PresenceSet, self.set)
        hub.on_connect(self._online)
        hub.on_disconnect(self._gone, person_only=True)

    @classmethod
    @asynccontextmanager
    async def running(
        cls, hub: Hub, db: Database, store: PresenceStore, ttl: float, limiter: RateLimiter, rate: Rate
    ) -> AsyncIterator[Presence]:
        """Keep this process's entries fresh and sweep expired ones until the block exits."""
        presence = cls(hub, db, store, ttl, limiter, rate)
        upkeep = asyncio.create_task(presence._upkeep(), name="presence")
        try:
            yield presence
        finally:
            upkeep.cancel()
            for task in presence._flushes:
                task.cancel()
            await asyncio.gather(upkeep, *presence._flushes, return_exceptions=True)

    def on_change(self, listener: ChangeListener) -> None:
        """Call `listener(change)` for every change of a user's aggregate state this process observes (each change
        is observed by exactly one process)."""
        self._listeners.append(listener)

    async def status(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Status]:
        """The aggregate state of each user (for the REST presence list); `unavailable` while Redis is down."""
        try:
            return await self._store.status(user_ids)
        except (RedisError, OSError):
            log.warning("presence store unreachable", extra={"event": "presence_unavailable"})
            raise Refusal("Presence is unavailable right now; try again shortly.", code="unavailable",
                          status=503) from None

    async def set(self, conn: Conn, p: PresenceSet) -> dict[str, Any]:
        wait = await self._limiter.take(f"presence:{conn.user_id}", self._rate)
        if wait:
            raise EventError("rate_limited", "You are changing presence too often.", retry_after=round(wait, 3))
        await self._update(conn, p.state)
        return ok(state=p.state)

    async def _online(self, conn: Conn) -> None:
        await self._update(conn, "online")

    async def _gone(self, conn: Conn) -> None:
        await self._update(conn, None)

    async def _update(self, conn: Conn, state: str | None) -> None:
        if state is not None:
            conn.state = state
        try:
            change = await self._store.update(conn.user_id, conn.sid, state)
        except Exception:
            log.exception("presence update failed")
            return
        if change is not None:
            await self._changed(change)

    async def _changed(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                await listener(change)
            except Exception:
                log.exception("presence change listener failed")
        await self._announce(change)

    async def _announce(self, change: Change) -> None:
        """Send `change` now, or hold it until this user's coalescing interval ends."""
        user = change.user_id
        if user in self._held:
            self._held[user] = change
            return
        last = self._announced.get(user)
        wait = 0.0 if last is None else last[0] + COALESCE_SECONDS - time.monotonic()
        if wait > 0:
            self._held[user] = change
            task = asyncio.create_task(self._flush_later(user, wait))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
            return
        await self._send(change)

    async def _flush_later(self, user: uuid.UUID, delay: float) -> None:
        await asyncio.sleep(delay)
        change = self._held.pop(user, None)
        last = self._announced.get(user)
        if change is None or (last is not None and last[1] == change.state != "offline"):
            return  # back where contacts last saw it (an offline change still brings its new last_seen)
        try:
            await self._send(change)
        except Exception:
            log.exception("presence announcement failed")

    async def _send(self, change: Change) -> None:
        self._announced[change.user_id] = (time.monotonic(), change.state)
        contacts = await conversations.contacts(self._db, change.user_id)
        await self._hub.push("presence", {"user_id": str(change.user_id), "state": change.state,
                                          "last_seen": iso_time(change.last_seen)}, [change.user_id, *contacts])

    def _forget_quiet(self) -> None:
        """Drop the record of announcements older than the interval (they no longer hold anything back)."""
        horizon = time.monotonic() - COALESCE_SECONDS
        for user in [u for u, (when, _) in self._announced.items() if when < horizon and u not in self._held]:
            del self._announced[user]

    async def _upkeep(self) -> None:
        heartbeat_every, sweep_every = self._ttl / 3, min(2.0, self._ttl / 5)
        next_beat = time.monotonic() + heartbeat_every
        while True:
            await asyncio.sleep(sweep_every)
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + heartbeat_every
                    await self._store.heartbeat([(c.user_id, c.sid, c.state) for c in self._hub.conns.by_sid.values()])
                for change in await self._store.sweep():
                    await self._changed(change)
                self._forget_quiet()
            except Exception:
                log.exception("presence upkeep failed; retrying")
