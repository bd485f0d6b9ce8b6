"""One live video session on its owner process: membership and room events around an ``SfuRoom``.

Why this layer: ``SfuRoom`` forwards media and negotiates, and knows nothing
of people. A session adds who is in the room (one connection per person: a
second join, from another device or after a failure, replaces the first), the
events everyone else sees (joined, left, published, unpublished, muted), the
limits (most participants; a connection that does not connect within the ICE
timeout, or fails later, is removed), and its end: when the last person
leaves, when its window closes, when its bookings are cancelled, or when the
process stops, every peer connection is closed.

When a booking's two people are both in the room for the first time, the
booking is started through the scheduler (``start_booking``), which moves it to
``in_session`` with its history and live update.

Everything that changes membership or publications runs under one lock, so
joins, leaves and renegotiations of one session never interleave. Nothing in
here waits for a client: offers and events go out through ``deliver`` and the
answers come back as later requests.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiortc import RTCConfiguration

from channels.interface import EventError
from rtc.sessions.plan import Person, Plan
from rtc.sfu.candidates import CandidateFilter
from rtc.sfu.peer import Message, NegotiationError
from rtc.sfu.room import SfuRoom

log = logging.getLogger(__name__)

# What a participant can publish, and the media kind of each.
SOURCES = {"camera": "video", "microphone": "audio", "screen": "video"}
# Per connection: every publish adds m-lines to everyone (aiortc never removes them), and every
# remote candidate adds ICE checks, so a client may not make either grow without bound.
MAX_PUBLISHES = 16
MAX_CANDIDATES = 64


@dataclass(eq=False, slots=True)
class Member:
    """One person in the room, through one socket on one process (the edge)."""

    person: Person
    sid: str
    edge: str
    joined_at: datetime
    timer: asyncio.TimerHandle | None = None
    publishes: int = 0
    candidates: int = 0


Deliver = Callable[[Member, str, dict[str, Any]], Awaitable[None]]
StartBooking = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]  # booking, the person whose arrival completed it


@dataclass(frozen=True, slots=True)
class Limits:
    max_participants: int
    ice_timeout: float
    bandwidth_estimation: bool = True


class VideoSession:
    """A session hosted here: members, publications, timers."""

    def __init__(
        self,
        plan: Plan,
        *,
        deliver: Deliver,
        start_booking: StartBooking,
        configuration: Callable[[], RTCConfiguration],
        limits: Limits,
        candidates: CandidateFilter,
        now: Callable[[], datetime],
        on_closed: Callable[[VideoSession], None],
    ) -> None:
        self.plan = plan
        self.id = plan.session_id
        self._deliver = deliver
        self._start_booking = start_booking
        self._limits = limits
        self._on_closed = on_closed
        self._now = now
        self._room = SfuRoom(
            self._signal, configuration=configuration, on_peer_state=self._peer_state,
            bandwidth_estimation=limits.bandwidth_estimation, candidates=candidates,
        )
        self._members: dict[uuid.UUID, Member] = {}
        self._muted: dict[str, bool] = {}  # publication id -> muted, which the room does not keep
        self._started: set[uuid.UUID] = set()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        delay = max(0.0, (plan.closes_at - now()).total_seconds())
        self._window_timer = asyncio.get_running_loop().call_later(delay, self._window_closed)

    @property
    def participant_count(self) -> int:
        return len(self._members)

    def participants(self) -> list[dict[str, str]]:
        """Who is in the room now, in the order they joined, and since when (their current connection)."""
        return [{**m.person.json(), "joined_at": m.joined_at.isoformat().replace("+00:00", "Z")}
                for m in self._members.values()]

    def adopt(self, plan: Plan) -> None:
        """A fresher plan of the same session (someone booked a place in the class since it began)."""
        self.plan = plan

    # -- requests (each checks that the socket is the member's current one) ------------------

    async def join(self, person: Person, sid: str, edge: str, publish: list[str]) -> dict[str, Any]:
        """Add `person` (replacing an earlier connection of theirs) and offer; returns the ack body."""
        async with self._lock:
            if self.closed:
                raise EventError("session_ended", "The session has ended.")
            if person.user_id not in self.plan.members():
                raise EventError("not_found", "No booking with that id.")
            previous = self._members.get(person.user_id)
            if previous is not None:
                await self._remove(previous, "rejoined" if previous.sid == sid else "replaced")
            elif len(self._members) >= self._limits.max_participants:
                raise EventError("session_full", f"The session is full ({self._limits.max_participants} participants).")
            member = Member(person, sid, edge, self._now(), publishes=len(publish))
            self._members[person.user_id] = member
            member.timer = asyncio.get_running_loop().call_later(
                self._limits.ice_timeout, self._expire_soon, member, "ice_timeout"
            )
            try:
                published = await self._room.add_participant(
                    str(person.user_id), [(SOURCES[s], s) for s in publish]
                )
            except Exception:
                member.timer.cancel()
                del self._members[person.user_id]
                raise
            for publication_id in published:
                self._muted[publication_id] = False
            await self._broadcast("rtc:participant_joined", {"participant": person.json()}, skip=member)
            for publication_id in published:
                await self._broadcast("rtc:track_published", {"publication": self._publication(publication_id)},
                                      skip=member)
            ack = {
                "session_id": str(self.id),
                "you": person.json(),
                "participants": [m.person.json() for m in self._members.values() if m is not member],
                "publications": [self._publication(p["id"]) for p in self._room.publications()],
                "published": published,
                "window": self.plan.window_json(),
                "max_participants": self._limits.max_participants,
            }
        startable = self.plan.startable(set(self._members), self._started)
        self._started.update(startable)
        for booking_id in startable:
            await self._start_booking(booking_id, person.user_id)
        return ack

    async def leave(self, user_id: uuid.UUID, sid: str, reason: str) -> None:
        async with self._lock:
            member = self._members.get(user_id)
            if member is not None and member.sid == sid:
                await self._remove(member, reason)
                await self._close_if_empty()

    async def signal(self, user_id: uuid.UUID, sid: str, message: Message) -> int:
        """The client's answer or ICE candidate; returns how many candidates were dropped (not allowed)."""
        async with self._lock:
            member = self._member(user_id, sid)
            if message.get("type") == "candidate":
                member.candidates += 1
                if member.candidates > MAX_CANDIDATES:
                    raise EventError("too_many_candidates", f"At most {MAX_CANDIDATES} ICE candidates per connection.")
            try:
                dropped = await self._room.handle_signal(str(user_id), message)
            except NegotiationError as exc:
                raise EventError("negotiation_failed", str(exc)) from None
            except (ValueError, IndexError):
                raise EventError("invalid_payload", "That is not a valid SDP or ICE candidate.") from None
        if dropped:
            log.info("ICE candidates outside the allowed networks dropped",
                     extra={"event": "rtc_candidates_dropped", "session": str(self.id), "user_id": str(user_id),
                            "count": dropped})
        return dropped

    async def publish(self, user_id: uuid.UUID, sid: str, source: str) -> dict[str, Any]:
        """Start forwarding a new track of the member's (e.g. a screen share); everyone is renegotiated."""
        async with self._lock:
            member = self._member(user_id, sid)
            if any(p["publisher"] == str(user_id) and p["source"] == source for p in self._room.publications()):
                raise EventError("already_published", f"You are already publishing your {source}.")
            if member.publishes >= MAX_PUBLISHES:
                raise EventError("too_many_publications",
                                 f"At most {MAX_PUBLISHES} publications per connection; join again.")
            member.publishes += 1
            publication_id = await self._room.publish(str(user_id), SOURCES[source], source)
            self._muted[publication_id] = False
            publication = self._publication(publication_id)
            await self._broadcast("rtc:track_published", {"publication": publication}, skip=member)
            return publication

    async def unpublish(self, user_id: uuid.UUID, sid: str, publication_id: str) -> None:
        async with self._lock:
            member = self._member(user_id, sid)
            try:
                await self._room.unpublish(str(user_id), publication_id)
            except KeyError:
                raise EventError("unknown_publication", "You have no publication with that id.") from None
            self._muted.pop(publication_id, None)
            await self._broadcast("rtc:track_unpublished",
                                  {"publication_id": publication_id, "publisher": str(user_id)}, skip=member)

    async def mute(self, user_id: uuid.UUID, sid: str, publication_id: str, muted: bool) -> None:
        """Record and announce that the member paused (or resumed) a track; media keeps its m-line."""
        async with self._lock:
            member = self._member(user_id, sid)
            if not any(p["id"] == publication_id and p["publisher"] == str(user_id) for p in self._room.publications()):
                raise EventError("unknown_publication", "You have no publication with that id.")
            self._muted[publication_id] = muted
            await self._broadcast("rtc:mute", {"publication_id": publication_id, "publisher": str(user_id),
                                               "muted": muted}, skip=member)

    # -- changes from outside ----------------------------------------------------------------

    async def update_plan(self, plan: Plan | None, reason: str) -> None:
        """The bookings changed: people no longer booked are removed; with no booking left the session ends."""
        if plan is None:
            await self.close(reason)
            return
        async with self._lock:
            self.plan = plan
            members = plan.members()
            for member in [m for uid, m in self._members.items() if uid not in members]:
                await self._remove(member, reason)
            await self._close_if_empty()

    async def close(self, reason: str) -> None:
        """End the session: everyone is told why, every peer connection is closed. Idempotent."""
        async with self._lock:
            await self._close_locked(reason)

    # -- internals -----------------------------------------------------------------------------

    def _member(self, user_id: uuid.UUID, sid: str) -> Member:
        member = self._members.get(user_id)
        if member is None or member.sid != sid:
            raise EventError("not_joined", "Join the session first.")
        return member

    def _publication(self, publication_id: str) -> dict[str, Any]:
        found = next(p for p in self._room.publications() if p["id"] == publication_id)
        return {**found, "muted": self._muted.get(publication_id, False)}

    async def _signal(self, peer_id: str, message: Message) -> None:
        member = self._members.get(uuid.UUID(peer_id))
        if member is not None:
            await self._deliver(member, "rtc:offer", {"session_id": str(self.id), **message})

    async def _broadcast(self, event: str, data: dict[str, Any], skip: Member | None = None) -> None:
        body = {"session_id": str(self.id), **data}
        for member in list(self._members.values()):
            if member is not skip:
                await self._deliver(member, event, body)

    async def _remove(self, member: Member, reason: str) -> None:
        """Take `member` out (under the lock): their tracks end, the others are told and renegotiated."""
        uid = member.person.user_id
        if member.timer is not None:
            member.timer.cancel()
        del self._members[uid]
        theirs = [p["id"] for p in self._room.publications() if p["publisher"] == str(uid)]
        await self._room.remove_participant(str(uid))
        for publication_id in theirs:
            self._muted.pop(publication_id, None)
            await self._broadcast("rtc:track_unpublished", {"publication_id": publication_id, "publisher": str(uid)})
        await self._broadcast("rtc:participant_left", {"user_id": str(uid), "reason": reason})
        if reason not in ("left", "disconnected", "rejoined"):
            await self._deliver(member, "rtc:ended", {"session_id": str(self.id), "reason": reason})
        log.info("left video session", extra={"event": "rtc_left", "session": str(self.id), "user_id": str(uid),
                                                 "reason": reason})

    async def _close_if_empty(self) -> None:
        if not self._members:
            await self._close_locked("empty")

    async def _close_locked(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._window_timer.cancel()
        members = list(self._members.values())
        self._members.clear()
        for member in members:
            if member.timer is not None:
                member.timer.cancel()
        await self._room.close()
        for member in members:
            await self._deliver(member, "rtc:ended", {"session_id": str(self.id), "reason": reason})
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        log.info("video session ended", extra={"event": "rtc_session_ended", "session": str(self.id),
                                                "reason": reason, "count": len(members)})
        self._on_closed(self)

    def _peer_state(self, peer_id: str, state: str) -> None:
        member = self._members.get(uuid.UUID(peer_id))
        if member is None:
            return
        if state == "connected":
            if member.timer is not None:
                member.timer.cancel()
                member.timer = None
        elif state == "failed":
            self._expire_soon(member, "ice_failed")

    def _window_closed(self) -> None:
        self._spawn(self.close("window_closed"))

    def _expire_soon(self, member: Member, reason: str) -> None:
        self._spawn(self._expire(member, reason))

    async def _expire(self, member: Member, reason: str) -> None:
        async with self._lock:
            if self._members.get(member.person.user_id) is member:
                await self._remove(member, reason)
                await self._close_if_empty()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
