"""The ``rtc:*`` Socket.IO events, on the process that holds the socket (the edge).

The edge authorizes (the booking, the person, the window: ``rtc.sessions.plan``),
audits the join, finds the session's owner (``rtc.sessions.ownership``), and passes the
request to it: directly when the owner is this process, through
``rtc.sessions.relay`` otherwise. It remembers, per socket, which sessions it joined
and where they live, so later events go straight there and a disconnect
leaves them all. Events for a socket (offers, room events) are delivered here
whichever process sent them.

Client events (each answered with `{ok: true, ...}` or `{ok: false, error}`):
``rtc:join``, ``rtc:leave``, ``rtc:answer``, ``rtc:candidate``,
``rtc:publish``, ``rtc:unpublish``, ``rtc:mute``, and ``rtc:state`` (who is in,
also ``GET /api/v1/bookings/{id}/video``). See docs/video.md.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from redis.exceptions import RedisError

from channels.interface import EventError, Payload, Socket
from storage import audit, video
from storage.database import Database

from .hosting import Host
from .ownership import Ownership
from .plan import Person, Plan, admission, admit, member_of, with_status
from .plan import session_id as session_id_of
from .relay import Relay, RelayError

log = logging.getLogger(__name__)

Source = Literal["camera", "microphone", "screen"]
MAX_SDP = 48 * 1024
CALL_TIMEOUT = 8.0
EmitLocal = Callable[[str, dict[str, Any], str], Awaitable[None]]


class JoinIn(Payload):
    booking_id: uuid.UUID = Field(strict=False)
    publish: list[Source] = Field(default_factory=list, max_length=3)


class StateIn(Payload):
    booking_id: uuid.UUID = Field(strict=False)


class SessionRef(Payload):
    session_id: uuid.UUID = Field(strict=False)


class AnswerIn(SessionRef):
    type: Literal["answer"] = "answer"
    sdp: str = Field(min_length=1, max_length=MAX_SDP)


class CandidateIn(SessionRef):
    """`RTCIceCandidate.toJSON()`; an empty `candidate` ends the candidates."""

    candidate: str = Field(max_length=1024)
    sdpMid: str | None = Field(default=None, max_length=64)  # noqa: N815 (the browser's names)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=1024)  # noqa: N815
    usernameFragment: str | None = Field(default=None, max_length=256)  # noqa: N815


class PublishIn(SessionRef):
    source: Source


class PublicationRef(SessionRef):
    publication_id: str = Field(min_length=1, max_length=200)


class MuteIn(PublicationRef):
    muted: bool


# Client event -> (payload model, method of `Signalling`).
EVENTS: dict[str, tuple[type[Payload], str]] = {
    "rtc:join": (JoinIn, "join"),
    "rtc:leave": (SessionRef, "leave"),
    "rtc:answer": (AnswerIn, "answer"),
    "rtc:candidate": (CandidateIn, "candidate"),
    "rtc:publish": (PublishIn, "publish"),
    "rtc:unpublish": (PublicationRef, "unpublish"),
    "rtc:mute": (MuteIn, "mute"),
    "rtc:state": (StateIn, "state"),
}


class Signalling:
    """Edge side of video signalling for this process's sockets."""

    def __init__(
        self,
        *,
        host: Host,
        relay: Relay,
        ownership: Ownership,
        emit_local: EmitLocal,
        db: Database,
        now: Callable[[], datetime],
        ice_servers: list[dict[str, Any]],
    ) -> None:
        self._host = host
        self._relay = relay
        self._ownership = ownership
        self._emit_local = emit_local
        self._db = db
        self._now = now
        self._ice_servers = ice_servers
        self._joined: dict[str, dict[uuid.UUID, str]] = {}  # sid -> session -> owner process

    # -- client events ----------------------------------------------------------------------

    async def join(self, socket: Socket, p: JoinIn) -> dict[str, Any]:
        """Join the session of booking `booking_id`, publishing `publish` at once; the offer follows."""
        plan = admit(await video.group_of(self._db, p.booking_id), socket.user_id, self._now())
        owner = await self._ownership.claim(plan.session_id)
        args = {"session_id": str(plan.session_id), "booking_id": str(p.booking_id), "user_id": str(socket.user_id),
                "sid": socket.sid, "edge": self._relay.process_id, "publish": list(dict.fromkeys(p.publish))}
        ack, owner = await self._call(owner, "join", args)
        if ack.get("ok"):
            self._joined.setdefault(socket.sid, {})[plan.session_id] = owner
            await self._audit(socket, plan, p.booking_id)
            ack["ice_servers"] = self._ice_servers
        return ack

    async def leave(self, socket: Socket, p: SessionRef) -> dict[str, Any]:
        owner = self._joined.get(socket.sid, {}).pop(p.session_id, None)
        if owner is None:
            return {"ok": True}
        ack, _ = await self._call(owner, "leave", self._args(socket, p, reason="left"))
        return ack

    async def answer(self, socket: Socket, p: AnswerIn) -> dict[str, Any]:
        return await self._forward(socket, p, "signal", message={"type": "answer", "sdp": p.sdp})

    async def candidate(self, socket: Socket, p: CandidateIn) -> dict[str, Any]:
        message = {"type": "candidate", "candidate": p.candidate, "sdpMid": p.sdpMid, "sdpMLineIndex": p.sdpMLineIndex}
        return await self._forward(socket, p, "signal", message=message)

    async def publish(self, socket: Socket, p: PublishIn) -> dict[str, Any]:
        return await self._forward(socket, p, "publish", source=p.source)

    async def unpublish(self, socket: Socket, p: PublicationRef) -> dict[str, Any]:
        return await self._forward(socket, p, "unpublish", publication_id=p.publication_id)

    async def mute(self, socket: Socket, p: MuteIn) -> dict[str, Any]:
        return await self._forward(socket, p, "mute", publication_id=p.publication_id, muted=p.muted)

    async def state(self, socket: Socket, p: StateIn) -> dict[str, Any]:
        return {"ok": True, **await self.session_state(p.booking_id, socket.user_id, request_id=None)}

    async def session_state(
        self, booking_id: uuid.UUID, user_id: uuid.UUID, *, request_id: str | None
    ) -> dict[str, Any]:
        """The session of `booking_id` as its participant `user_id` may see it, the same from every process.

        Who is in comes from the session's owner (found through the shared ownership claims, asked over the
        relay like any request), so no process answers from its own partial view. Only while the session is
        open to the reader: a cancelled place shows nobody. Each other person shown is audited.
        """
        group = await video.group_of(self._db, booking_id)
        booking = member_of(group, user_id)
        state, window = admission(group, self._now())
        sid = session_id_of(booking.offering_id, booking.start_at)
        participants: list[dict[str, Any]] = []
        try:
            owner = await self._ownership.owner(sid) if state == "open" else None
            if owner is not None:
                args = {"session_id": str(sid)}
                if owner == self._relay.process_id:
                    ack = await self._host.handle("state", args)
                else:
                    ack = await self._relay.call(owner, "state", args, CALL_TIMEOUT)
                if not ack.get("ok"):
                    raise RelayError(str(ack.get("error")))
                participants = list(ack.get("participants", []))
        except (RelayError, RedisError, OSError):
            log.warning("session owner did not answer",
                        extra={"event": "rtc_owner_silent", "session": str(sid), "reason": "state"})
            raise with_status(EventError("unavailable", "The video service is not answering; try again shortly.",
                                         retry_after=5), 503) from None
        for person in participants:
            if person["user_id"] != str(user_id):
                await audit.record(self._db, actor_id=user_id, action="video.state",
                                   subject_id=uuid.UUID(person["user_id"]), resource=f"booking:{booking_id}",
                                   request_id=request_id)
        return {"booking_id": str(booking_id), "session_id": str(sid), "admission": state, "window": window,
                "participants": participants}

    # -- socket lifecycle and delivery -------------------------------------------------------

    async def disconnected(self, socket: Socket) -> None:
        """A socket went away: leave every session it was in."""
        for session_id, owner in self._joined.pop(socket.sid, {}).items():
            args = {"session_id": str(session_id), "user_id": str(socket.user_id), "sid": socket.sid,
                    "reason": "disconnected"}
            try:
                await self._call(owner, "leave", args)
            except EventError:
                log.info("leave after disconnect not delivered; the owner times the peer out",
                         extra={"event": "rtc_leave_lost", "session": str(session_id)})

    async def deliver(self, sid: str, event: str, data: dict[str, Any]) -> None:
        """An event for a socket of this process, from whichever process hosts its session."""
        if event == "rtc:ended":
            self._joined.get(sid, {}).pop(uuid.UUID(data["session_id"]), None)
        elif event == "rtc:offer":  # the first offer may come before the join's ack: it carries the ICE servers too
            data = {**data, "ice_servers": self._ice_servers}
        await self._emit_local(event, data, sid)

    # -- internals -----------------------------------------------------------------------------

    def _args(self, socket: Socket, p: SessionRef, **extra: Any) -> dict[str, Any]:
        return {"session_id": str(p.session_id), "user_id": str(socket.user_id), "sid": socket.sid, **extra}

    async def _forward(self, socket: Socket, p: SessionRef, op: str, **extra: Any) -> dict[str, Any]:
        owner = self._joined.get(socket.sid, {}).get(p.session_id)
        if owner is None:
            raise EventError("not_joined", "Join the session first.")
        ack, _ = await self._call(owner, op, self._args(socket, p, **extra))
        return ack

    async def _call(self, owner: str, op: str, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Send `op` to the session's owner, following `moved` answers; returns the ack and who answered."""
        for _ in range(3):
            if owner == self._relay.process_id:
                ack = await self._host.handle(op, args)
            else:
                try:
                    ack = await self._relay.call(owner, op, args, CALL_TIMEOUT)
                except RelayError:
                    log.warning("session owner did not answer",
                                extra={"event": "rtc_owner_silent", "session": args["session_id"], "reason": op})
                    raise EventError("unavailable", "The video service is not answering; try again shortly.",
                                     retry_after=5) from None
            error = ack.get("error") or {}
            if ack.get("ok") or error.get("code") != "moved":
                return ack, owner
            owner = error["owner"]
        raise EventError("unavailable", "The session is moving between servers; try again shortly.", retry_after=1)

    async def _audit(self, socket: Socket, plan: Plan, booking_id: uuid.UUID) -> None:
        """Joining shows the others' faces and names: one audit entry per other person."""
        others: list[Person] = [p for uid, p in plan.members().items() if uid != socket.user_id]
        for person in others:
            await audit.record(self._db, actor_id=socket.user_id, action="video.join", subject_id=person.user_id,
                               resource=f"booking:{booking_id}", request_id=None)
