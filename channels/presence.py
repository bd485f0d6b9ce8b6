"""Presence events: each socket's state kept in the presence store, and changes announced to contacts.

A socket counts as online from its connection until it disconnects or sets
`away` (`presence:set`). This process refreshes its sockets' entries in the
store and sweeps for users whose entries expired (a process that died stops
refreshing); every change of a user's aggregate state is announced to the
user and everyone who shares a conversation with them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from storage import conversations
from storage.database import Database

from .connections import Conn
from .hub import Hub, user_room
from .interface import ok
from .payloads import PresenceSet
from .presence_store import Change, PresenceStore, Status

log = logging.getLogger(__name__)


class Presence:
    """Presence of this process's sockets, in a store shared by every process."""

    def __init__(self, hub: Hub, db: Database, store: PresenceStore, ttl: float) -> None:
        self._hub = hub
        self._db = db
        self._store = store
        self._ttl = ttl
        hub.on("presence:set", PresenceSet, self.set)
        hub.on_connect(self._online)
        hub.on_disconnect(self._gone)

    @classmethod
    @asynccontextmanager
    async def running(cls, hub: Hub, db: Database, store: PresenceStore, ttl: float) -> AsyncIterator[Presence]:
        """Keep this process's entries fresh and sweep expired ones until the block exits."""
        presence = cls(hub, db, store, ttl)
        upkeep = asyncio.create_task(presence._upkeep(), name="presence")
        try:
            yield presence
        finally:
            upkeep.cancel()
            await asyncio.gather(upkeep, return_exceptions=True)

    async def status(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Status]:
        """The aggregate state of each user (for the REST presence list)."""
        return await self._store.status(user_ids)

    async def set(self, conn: Conn, p: PresenceSet) -> dict[str, Any]:
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
            await self._announce(change)

    async def _announce(self, change: Change) -> None:
        contacts = await conversations.contacts(self._db, change.user_id)
        rooms = [user_room(u) for u in [change.user_id, *contacts]]
        await self._hub.emit_all("presence", {"user_id": str(change.user_id), "state": change.state,
                                              "last_seen": change.last_seen}, to=rooms)

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
                    await self._announce(change)
            except Exception:
                log.exception("presence upkeep failed; retrying")
