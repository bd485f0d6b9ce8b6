"""The live "available now" marker of practitioners: its current value, and its changes pushed to the sockets
watching a result list.

A practitioner is available now when they chose to show it (`show_available_now`), are online (presence: some
socket of theirs online, not away, on any process), accept bookings (an active offering) and are in no session
(no confirmed or started booking whose [start, end) holds now). With the choice off it is never true and their
presence is never read for it (storage/available_now.py decides who may be looked up).

A signed-in socket watches the practitioners of the list it shows (`available:watch {practitioner_ids}`, at most
`MAX_WATCHED`; a new watch replaces the previous one, an empty one ends it): the ack carries the current values,
then `available:changed {practitioner_id, available_now}` comes whenever one of them changes.

Whatever can change the marker announces `AvailabilityChanged` on the practitioner's routed bus channel: the
process observing a presence change, the REST process changing the setting or an offering, the scheduler for a
booking change and at a session's start and end (a timeline step). Only the processes with watchers of that
practitioner listen. The message carries no value: each of them computes it again and tells its watchers when it
differs from what they were told last, so announcements that cross or repeat cannot leave a stale value.
Computing is single-flight per practitioner: announcements meanwhile cause one more computation after it. After
a lost Redis connection every watched practitioner is computed again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from storage import audit, available_now
from storage.bus import Bus
from storage.bus_messages import AvailabilityChanged, available_channel
from storage.database import Database
from storage.errors import Refusal

from .connections import Conn
from .hub import Hub
from .interface import Payload, ok
from .presence import Presence
from .presence_store import Change

log = logging.getLogger(__name__)

MAX_WATCHED = 100  # a page of results is at most 50; room for two
WATCH, CHANGED = "available:watch", "available:changed"


class AvailableWatch(Payload):
    practitioner_ids: list[Annotated[uuid.UUID, Field(strict=False)]] = Field(max_length=MAX_WATCHED)


def watch_room(practitioner_id: uuid.UUID) -> str:
    """The sockets of this process watching one practitioner."""
    return f"available:{practitioner_id}"


class _Watching:
    """The watchers of this process, by socket and by practitioner, and what each practitioner's watchers were
    told last."""

    def __init__(self, hub: Hub, db: Database, bus: Bus, presence: Presence, now: Callable[[], datetime]) -> None:
        self.hub, self.db, self.bus, self.presence, self.now = hub, db, bus, presence, now
        self.of_socket: dict[str, frozenset[uuid.UUID]] = {}
        self.watchers: Counter[uuid.UUID] = Counter()
        self.told: dict[uuid.UUID, bool] = {}
        self._computing: set[uuid.UUID] = set()
        self._again: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    async def values(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """The marker of each practitioner now; while presence cannot be read, nobody is shown online."""
        may_show = await available_now.showing_and_free(self.db, ids, self.now())
        online: set[uuid.UUID] = set()
        if may_show:
            try:
                online = {u for u, s in (await self.presence.status(list(may_show))).items() if s.state == "online"}
            except Refusal:
                pass  # logged by presence
        return {pid: pid in online for pid in ids}

    async def watch(self, conn: Conn, ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """Make `ids` what `conn` watches; returns their current values."""
        old, new = self.of_socket.get(conn.sid, frozenset()), frozenset(ids)
        self.of_socket[conn.sid] = new
        first = []
        for pid in new - old:
            self.hub.enter_room(conn, watch_room(pid))
            self.watchers[pid] += 1
            if self.watchers[pid] == 1:
                first.append(pid)
        for pid in old - new:
            self.hub.leave_room(conn, watch_room(pid))
            self.release(pid)
        # Heard before the values are read, so no change after the read can pass this process by.
        await asyncio.gather(*(self.bus.route(available_channel(pid), self.on_announced) for pid in first))
        values = await self.values(ids)
        for pid, value in values.items():
            if pid not in self.watchers:
                continue  # left again meanwhile
            if pid not in self.told:
                self.told[pid] = value
            elif self.told[pid] != value:
                self.compute_soon(pid)  # a change its other watchers have not heard yet
        return values

    def release(self, pid: uuid.UUID) -> None:
        self.watchers[pid] -= 1
        if self.watchers[pid] <= 0:
            del self.watchers[pid]
            self.told.pop(pid, None)
            self.bus.unroute(available_channel(pid), self.on_announced)

    def forget(self, sid: str) -> None:
        for pid in self.of_socket.pop(sid, frozenset()):
            self.release(pid)

    async def on_announced(self, _: str, data: bytes) -> None:
        self.compute_soon(AvailabilityChanged.decode(data).practitioner_id)

    async def catch_up(self) -> None:
        for pid in list(self.watchers):
            self.compute_soon(pid)

    def compute_soon(self, pid: uuid.UUID) -> None:
        if self.closed or pid not in self.watchers:
            return
        if pid in self._computing:
            self._again.add(pid)
            return
        self._computing.add(pid)
        task = asyncio.create_task(self._compute(pid), name="available-now")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compute(self, pid: uuid.UUID) -> None:
        try:
            while True:
                self._again.discard(pid)
                value = (await self.values([pid]))[pid]
                if pid in self.watchers and self.told.get(pid) != value:
                    self.told[pid] = value
                    await self.hub.emit_local(CHANGED, {"practitioner_id": str(pid), "available_now": value},
                                              to=watch_room(pid))
                if pid not in self._again:
                    return
        except Exception:
            log.exception("available now not computed", extra={"event": "available_now_failed"})
        finally:
            self._computing.discard(pid)

    async def close(self) -> None:
        self.closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pid in list(self.watchers):
            self.bus.unroute(available_channel(pid), self.on_announced)


class AvailableNow:
    """The marker for REST answers (`current`), the announcements of changes (`changed`), and the watchers of this
    process. Built with the app (its event is registered before Socket.IO starts), running once the scheduler's
    clock exists."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._watching: _Watching | None = None
        hub.on(WATCH, AvailableWatch, self._watch)
        hub.on_disconnect(self._disconnected)

    @asynccontextmanager
    async def running(
        self, *, db: Database, bus: Bus, presence: Presence, now: Callable[[], datetime],
    ) -> AsyncIterator[AvailableNow]:
        """Serve watchers and answer `current` until the block exits; `now` is the scheduling clock."""
        watching = _Watching(self._hub, db, bus, presence, now)

        async def presence_changed(change: Change) -> None:
            if not watching.closed:
                await self.changed(change.user_id)

        presence.on_change(presence_changed)
        bus.on_reconnect(watching.catch_up)
        self._watching = watching
        try:
            yield self
        finally:
            self._watching = None
            await watching.close()

    def _running(self) -> _Watching:
        if self._watching is None:
            raise Refusal("The service is unavailable; try again shortly.", code="unavailable", status=503)
        return self._watching

    async def current(self, practitioner_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """The marker of each practitioner now (search results, public profiles)."""
        return await self._running().values(practitioner_ids)

    async def changed(self, practitioner_id: uuid.UUID) -> None:
        """Something the practitioner's marker depends on changed: the watchers of every process look again. (Not
        running, on the way down: nothing to tell; watchers watch again wherever they reconnect.)"""
        if self._watching is not None:
            message = AvailabilityChanged(practitioner_id)
            await self._watching.bus.route_many([(message.channel, message.encode())])

    async def _watch(self, conn: Conn, p: AvailableWatch) -> dict[str, Any]:
        """Watch the practitioners of a result list: their current values now, their changes as they come."""
        watching = self._running()
        ids = list(dict.fromkeys(p.practitioner_ids))
        values = await watching.watch(conn, ids)
        if ids:
            await audit.record(watching.db, actor_id=conn.user_id, action="practitioner.available.watch",
                               subject_id=None, resource="practitioners", request_id=None)
        return ok(items=[{"practitioner_id": str(pid), "available_now": values[pid]} for pid in ids])

    async def _disconnected(self, conn: Conn) -> None:
        if self._watching is not None:
            self._watching.forget(conn.sid)
