"""The sessions this process hosts, and the requests that reach them (from local sockets or relayed).

Why requests are plain ``(op, args)`` dicts: the same call serves a socket on
this process and one on another process (through ``rtc.sessions.relay``), so there is
one code path to test. Every answer is an ack dict in the channels shape.

Hosting is tied to ownership (``rtc.sessions.ownership``): a session is created here
only after this process has claimed it, so a request that reaches a process
which no longer owns the session is answered ``moved`` with the current
owner and the edge retries there. Claims are refreshed while sessions live and
released when they end; a session whose claim was lost is closed.

While it hosts a session, the host follows the bookings in it (`follow`, the
bus channel of each booking, in rtc/service.py), so a cancellation or a
reschedule reaches the one process that needs it and no other.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiortc import RTCConfiguration

from channels.interface import EventError, refusal_ack
from rtc.sessions.ownership import Ownership, refresh_interval
from rtc.sessions.plan import Plan
from rtc.sessions.session import Deliver, Limits, StartBooking, VideoSession
from rtc.sfu.candidates import CandidateFilter
from storage.errors import Refusal

log = logging.getLogger(__name__)

LoadPlan = Callable[[uuid.UUID], Awaitable[Plan | None]]  # booking id -> its session's plan
Follow = Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[None]]  # session id, its booking ids
Unfollow = Callable[[uuid.UUID], None]  # session id


async def _follow_nothing(session_id: uuid.UUID, booking_ids: list[uuid.UUID]) -> None:
    """The default `follow`: booking changes reach the host some other way (tests call `booking_changed`)."""


def _unfollow_nothing(session_id: uuid.UUID) -> None:
    """The default `unfollow`."""


class Host:
    """Owner side: live sessions by id."""

    def __init__(
        self,
        *,
        process_id: str,
        ownership: Ownership,
        load_plan: LoadPlan,
        deliver: Deliver,
        start_booking: StartBooking,
        configuration: Callable[[], RTCConfiguration],
        limits: Limits,
        candidates: CandidateFilter,
        now: Callable[[], datetime],
        follow: Follow = _follow_nothing,
        unfollow: Unfollow = _unfollow_nothing,
    ) -> None:
        self.process_id = process_id
        self._follow = follow
        self._unfollow = unfollow
        self._candidates = candidates
        self._ownership = ownership
        self._load_plan = load_plan
        self._deliver = deliver
        self._start_booking = start_booking
        self._configuration = configuration
        self._limits = limits
        self._now = now
        self.sessions: dict[uuid.UUID, VideoSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_claims(), name="rtc-ownership")

    async def stop(self, reason: str) -> None:
        """Close every session (every peer connection) and give up the claims."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        for session in list(self.sessions.values()):
            await session.close(reason)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Answer one request; refusals become `{ok: false, error}`."""
        try:
            if op == "join":
                return {"ok": True, **await self._join(args)}
            session = self.sessions.get(uuid.UUID(args["session_id"]))
            if op == "state":  # the edge authorized the reader; a session not hosted (any more) is empty
                return {"ok": True, "participants": [] if session is None else session.participants()}
            user_id, sid = uuid.UUID(args["user_id"]), args["sid"]
            if session is None:
                if op == "leave":
                    return {"ok": True}
                raise EventError("not_joined", "Join the session first.")
            if op == "leave":
                await session.leave(user_id, sid, args["reason"])
            elif op == "signal":
                dropped = await session.signal(user_id, sid, args["message"])
                if args["message"].get("type") == "candidate":
                    return {"ok": True, "accepted": not dropped}
            elif op == "publish":
                return {"ok": True, "publication": await session.publish(user_id, sid, args["source"])}
            elif op == "unpublish":
                await session.unpublish(user_id, sid, args["publication_id"])
            elif op == "mute":
                await session.mute(user_id, sid, args["publication_id"], args["muted"])
            else:
                raise EventError("unknown_event", "No such event.")
            return {"ok": True}
        except Refusal as refusal:
            return refusal_ack(refusal)

    async def booking_changed(self, booking_id: uuid.UUID, session_id: uuid.UUID, status: str) -> None:
        """A booking of a session hosted here changed: apply the session's current plan (read through another
        of its bookings when this one moved to another time)."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        plan = await self._load_plan(booking_id)
        if plan is not None and plan.session_id != session_id:
            others = [b.id for b in session.plan.bookings if b.id != booking_id]
            plan = await self._load_plan(others[0]) if others else None
        await session.update_plan(plan, f"booking_{status}")

    async def _join(self, args: dict[str, Any]) -> dict[str, Any]:
        session_id = uuid.UUID(args["session_id"])
        user_id = uuid.UUID(args["user_id"])
        for _ in range(3):
            plan = await self._load_plan(uuid.UUID(args["booking_id"]))
            person = None if plan is None else plan.members().get(user_id)
            if plan is None or person is None or plan.session_id != session_id:
                raise EventError("not_joinable", "This booking has no video session now.")
            session = await self._session(plan)
            try:
                return await session.join(person, args["sid"], args["edge"], list(args["publish"]))
            except EventError as refusal:
                if refusal.code != "session_ended":  # it ended as we joined: start a new one
                    raise
        raise EventError("unavailable", "The session is restarting; try again shortly.")

    async def _session(self, plan: Plan) -> VideoSession:
        session = self.sessions.get(plan.session_id)
        if session is None or session.closed:
            owner = await self._ownership.claim(plan.session_id)
            if owner != self.process_id:
                raise EventError("moved", "The session is hosted elsewhere.", owner=owner)
            session = self.sessions.get(plan.session_id)  # another join may have created it meanwhile
            if session is None or session.closed:
                # Follow its bookings first, then read the plan again: no change can fall in between.
                await self._follow(plan.session_id, [b.id for b in plan.bookings])
                fresh = await self._load_plan(plan.bookings[0].id)
                if fresh is None or fresh.session_id != plan.session_id:
                    self._unfollow(plan.session_id)
                    raise EventError("not_joinable", "This booking has no video session now.")
                session = VideoSession(
                    fresh, deliver=self._deliver, start_booking=self._start_booking,
                    configuration=self._configuration, limits=self._limits, candidates=self._candidates,
                    now=self._now, on_closed=self._closed,
                )
                self.sessions[plan.session_id] = session
                log.info("video session started", extra={"event": "rtc_session_started", "session": str(session.id)})
                return session
        await self._follow(plan.session_id, [b.id for b in plan.bookings])  # a class may have grown
        session.adopt(plan)
        return session

    def _closed(self, session: VideoSession) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
            self._unfollow(session.id)
            task = asyncio.ensure_future(self._release(session.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _release(self, session_id: uuid.UUID) -> None:
        if session_id in self.sessions:
            return  # hosted again already
        try:
            await self._ownership.release(session_id)
        except Exception:
            log.warning("could not release a session claim; it lapses by itself",
                        extra={"event": "rtc_release_failed", "session": str(session_id)})

    async def _refresh_claims(self) -> None:
        while True:
            await asyncio.sleep(refresh_interval())
            try:
                lost = await self._ownership.refresh(list(self.sessions))
            except Exception:
                log.warning("could not refresh session claims; retrying",
                            extra={"event": "rtc_refresh_failed", "count": len(self.sessions)})
                continue
            for session_id in lost:
                session = self.sessions.get(session_id)
                if session is not None:
                    await session.close("moved")
