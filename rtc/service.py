"""The video component: booking-bound SFU sessions, signalled over the channels' Socket.IO.

Built with the app on the socket hub it is given
(``channels.interface.SocketHub``, the only part of channels it knows), so its
events are registered before Socket.IO starts, and started in the app's
cleanup context after the runtime, channels and scheduler, so it is stopped
before them: on the way out every session is closed, which closes every peer
connection, and its participants are told to rejoin (another process takes
the session over).

Wiring, in one place: ``rtc.sessions.signalling`` (the edge, per socket) asks
``rtc.sessions.hosting`` (the owner, per session) directly or through
``rtc.sessions.relay``; ``rtc.sessions.ownership`` says who owns what; the
server's ``start`` starts a booking; booking changes update the sessions they
touch, heard on the routed channel of each booking in a session hosted here
(``_Followed``), so other processes never hear them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from redis.asyncio import Redis

from channels.interface import Socket, SocketHub
from storage import video
from storage.bus import Bus, Handler
from storage.bus_messages import BookingChanged, booking_channel
from storage.database import Database
from storage.errors import Refusal, StorageError

from .sessions import ice
from .sessions.hosting import Host
from .sessions.ownership import MemoryOwnership, RedisOwnership, new_process_id
from .sessions.plan import Plan, plan_of
from .sessions.relay import Relay
from .sessions.session import Limits, Member
from .sessions.signalling import EVENTS, Signalling
from .sfu.candidates import CandidateFilter
from .settings import RtcSettings

log = logging.getLogger(__name__)
StartBooking = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


class _Gauges(Collector):
    """Live sessions and peers, plus the process's tasks and threads (what a leak would grow)."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sessions = list(self._host.sessions.values())
        yield GaugeMetricFamily("klear_rtc_sessions", "Video sessions hosted by this process.", value=len(sessions))
        yield GaugeMetricFamily("klear_rtc_participants", "Participants (peer connections) in them.",
                                value=sum(s.participant_count for s in sessions))
        yield GaugeMetricFamily("klear_asyncio_tasks", "Live asyncio tasks of this process.",
                                value=len(asyncio.all_tasks()))
        yield GaugeMetricFamily("klear_threads", "Live threads of this process.", value=threading.active_count())


class _Followed:
    """The bookings of the sessions hosted here, each followed on its routed bus channel while hosted."""

    def __init__(self, bus: Bus, handler: Handler) -> None:
        self._bus = bus
        self._handler = handler
        self.sessions: dict[uuid.UUID, uuid.UUID] = {}  # booking id -> hosting session id

    async def follow(self, session_id: uuid.UUID, booking_ids: list[uuid.UUID]) -> None:
        for booking_id in booking_ids:
            if booking_id not in self.sessions:
                self.sessions[booking_id] = session_id
                await self._bus.route(booking_channel(booking_id), self._handler)

    def unfollow(self, session_id: uuid.UUID) -> None:
        for booking_id in [b for b, s in self.sessions.items() if s == session_id]:
            del self.sessions[booking_id]
            self._bus.unroute(booking_channel(booking_id), self._handler)


class Video:
    """This process's part of video: edge for its sockets, owner of the sessions it hosts."""

    def __init__(self, hub: SocketHub) -> None:
        self._hub = hub
        self._signalling: Signalling | None = None
        self._relay: Relay | None = None
        for event, (model, method) in EVENTS.items():
            hub.on(event, model, partial(self._event, method))
        hub.on_disconnect(self._disconnected)

    @asynccontextmanager
    async def running(
        self, *, db: Database, bus: Bus, redis: Redis | None, redis_prefix: str, settings: RtcSettings,
        registry: CollectorRegistry, now: Callable[[], datetime], start: StartBooking, loopback_only: bool,
    ) -> AsyncIterator[None]:
        """Host and signal sessions until the block exits; `start(booking_id, actor_id)` marks a booking started.

        `loopback_only`: the server listens on loopback alone, so its clients are on this machine and their
        loopback candidates are allowed (unless the candidate networks are set explicitly).
        """
        process_id = new_process_id()
        s = settings
        ownership = (
            RedisOwnership(redis, redis_prefix, process_id) if redis is not None else MemoryOwnership(process_id)
        )

        async def load_plan(booking_id: uuid.UUID) -> Plan | None:
            return plan_of(await video.group_of(db, booking_id))

        async def start_booking(booking_id: uuid.UUID, actor_id: uuid.UUID) -> None:
            try:
                await start(booking_id, actor_id)
            except Refusal as refused:  # started already, or its window closed: the session goes on regardless
                log.info("booking not started", extra={"event": "rtc_start_refused", "booking_id": str(booking_id),
                                                       "code": refused.code})
            except StorageError:
                log.warning("booking not started", extra={"event": "rtc_start_failed", "booking_id": str(booking_id)})

        tasks: set[asyncio.Task[None]] = set()
        followed = _Followed(bus, lambda _, data: self._booking_changed(host, followed, tasks, data))
        host = Host(
            process_id=process_id, ownership=ownership, load_plan=load_plan, deliver=self._deliver,
            start_booking=start_booking, configuration=ice.configuration_factory(s.ice_servers),
            limits=Limits(s.max_participants, s.ice_timeout),
            candidates=CandidateFilter(s.candidate_networks, allow_loopback=loopback_only), now=now,
            follow=followed.follow, unfollow=followed.unfollow,
        )
        relay = Relay(bus, db.sealer, process_id, host.handle, self._emit)
        self._signalling = Signalling(
            host=host, relay=relay, ownership=ownership, emit_local=self._emit_local, db=db, now=now,
            ice_servers=ice.for_clients(s.ice_servers),
        )
        self._relay = relay
        await relay.start()
        host.start()
        gauges = _Gauges(host)
        registry.register(gauges)
        try:
            yield
        finally:
            await host.stop("server_shutdown")
            await relay.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            registry.unregister(gauges)
            self._signalling = self._relay = None

    async def session_state(
        self, booking_id: uuid.UUID, user_id: uuid.UUID, *, request_id: str | None
    ) -> dict[str, Any]:
        """Who is in the session of `booking_id` and since when, for its participant `user_id` (REST reads it)."""
        if self._signalling is None:
            raise Refusal("Video is not running on this process.", code="unavailable", status=503)
        return await self._signalling.session_state(booking_id, user_id, request_id=request_id)

    # -- plumbing between the parts -----------------------------------------------------------

    async def _event(self, method: str, socket: Socket, payload: Any) -> dict[str, Any]:
        assert self._signalling is not None, "video used before the app started"
        result: dict[str, Any] = await getattr(self._signalling, method)(socket, payload)
        return result

    async def _disconnected(self, socket: Socket) -> None:
        if self._signalling is not None:
            await self._signalling.disconnected(socket)

    async def _deliver(self, member: Member, event: str, data: dict[str, Any]) -> None:
        """Owner -> a member's socket, wherever it is."""
        assert self._relay is not None
        if member.edge == self._relay.process_id:
            await self._emit(member.sid, event, data)
        elif not await self._relay.emit(member.edge, member.sid, event, data):
            log.warning("video event not relayed", extra={"event": "rtc_emit_lost", "code": event})

    async def _emit(self, sid: str, event: str, data: dict[str, Any]) -> None:
        if self._signalling is not None:
            await self._signalling.deliver(sid, event, data)

    async def _emit_local(self, event: str, data: dict[str, Any], sid: str) -> None:
        await self._hub.emit_local(event, data, to=sid)

    async def _booking_changed(self, host: Host, followed: _Followed, tasks: set[asyncio.Task[None]],
                               data: bytes) -> None:
        """A booking of a session hosted here changed: apply the change to its session, off the bus's reader."""
        change = BookingChanged.decode(data)
        session = followed.sessions.get(change.booking_id)
        if session is None:
            return
        task = asyncio.create_task(host.booking_changed(change.booking_id, session, change.booking["status"]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
