"""Live booking updates and in-app notifications, pushed from the scheduler's bus events.

The scheduler commits each booking change with a per-booking seq and a seq in
each participant's feed, and announces it on the bus (docs/booking.md). Here a
socket can follow one booking it takes part in (`booking:subscribe`) or all of
its own bookings (`bookings:subscribe`); both use `Streams`, so updates arrive
in order and recover after a reconnect exactly like chat messages.
Notifications are pushed to the user's private room as they are announced;
the REST list is their durable record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
from pydantic import Field

from storage import audit, bookings

from .connections import Conn
from .payloads import EventError, Payload, ok
from .sources import BookingSource, FeedSource
from .streams import Streams

if TYPE_CHECKING:
    from server.runtime import Runtime

    from .service import Channels

BOOKINGS = "bookings"
NOTIFICATIONS = "notifications"


class BookingRef(Payload):
    booking_id: uuid.UUID = Field(strict=False)


class BookingSubscribe(BookingRef):
    last_seq: int = Field(default=0, ge=0)


class FeedSubscribe(Payload):
    last_seq: int = Field(default=0, ge=0)


class Nothing(Payload):
    pass


@dataclass(frozen=True, slots=True)
class _BookingUpdate:
    """A booking update as announced on the bus (same fields as storage's BookingEvent)."""

    booking_id: uuid.UUID
    seq: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _FeedUpdate:
    """A feed entry as announced on the bus (same fields as storage's FeedEvent)."""

    user_id: uuid.UUID
    seq: int
    booking_id: uuid.UUID
    booking_seq: int
    body: dict[str, Any]


def booking_room(booking_id: uuid.UUID) -> str:
    return f"booking:{booking_id}"


def feed_room(user_id: uuid.UUID) -> str:
    return f"feed:{user_id}"


class Live:
    """Booking subscriptions and notification pushes of one process."""

    def __init__(self, channels: Channels) -> None:
        self._ch = channels
        self.bookings: Streams | None = None
        self.feeds: Streams | None = None
        channels.on("booking:subscribe", BookingSubscribe, self.subscribe_booking)
        channels.on("booking:unsubscribe", BookingRef, self.unsubscribe_booking)
        channels.on("bookings:subscribe", FeedSubscribe, self.subscribe_feed)
        channels.on("bookings:unsubscribe", Nothing, self.unsubscribe_feed)
        channels.on_disconnect(self._forget)

    async def start(self, rt: Runtime) -> None:
        self.bookings = Streams(BookingSource(rt.db), self._deliver_booking)
        self.feeds = Streams(FeedSource(rt.db), self._deliver_feed)
        await rt.bus.subscribe(BOOKINGS, self._on_booking)
        await rt.bus.subscribe(NOTIFICATIONS, self._on_notification)
        rt.bus.on_reconnect(self.bookings.catch_up)
        rt.bus.on_reconnect(self.feeds.catch_up)

    async def stop(self) -> None:
        for streams in (self.bookings, self.feeds):
            if streams is not None:
                await streams.close()

    async def _deliver_booking(self, booking_id: uuid.UUID, item: Any) -> None:
        await self._ch.emit_local("booking:update", {"booking_id": str(booking_id), "seq": item.seq, "event": item.body},
                                  to=booking_room(booking_id))

    async def _deliver_feed(self, user_id: uuid.UUID, item: Any) -> None:
        await self._ch.emit_local(
            "bookings:update",
            {"seq": item.seq, "booking_id": str(item.booking_id), "booking_seq": item.booking_seq, "event": item.body},
            to=feed_room(user_id),
        )

    async def _on_booking(self, _: str, data: bytes) -> None:
        assert self.bookings is not None and self.feeds is not None
        env = msgpack.unpackb(data)
        booking_id, booking_seq, body = uuid.UUID(env["booking_id"]), int(env["booking_seq"]), env["event"]
        await self.bookings.committed(booking_id, _BookingUpdate(booking_id, booking_seq, body))
        for user, seq in env["feed"].items():
            user_id = uuid.UUID(user)
            await self.feeds.committed(user_id, _FeedUpdate(user_id, int(seq), booking_id, booking_seq, body))

    async def _on_notification(self, _: str, data: bytes) -> None:
        env = msgpack.unpackb(data)
        await self._ch.emit_local("notification:new", env["notification"], to=f"user:{env['user_id']}")

    async def subscribe_booking(self, conn: Conn, p: BookingSubscribe) -> dict[str, Any]:
        """Follow one booking you take part in; missed updates after `last_seq` come first."""
        assert self.bookings is not None
        rt = self._ch.rt
        if not await bookings.is_participant(rt.db, p.booking_id, conn.user_id):
            raise EventError("not_participant", "You do not take part in this booking.")
        await audit.record(rt.db, actor_id=conn.user_id, action="booking.subscribe", subject_id=None,
                           resource=f"booking:{p.booking_id}", request_id=None)
        key = ("booking", p.booking_id)
        if key in conn.subscribed:
            conn.endpoint.manager.basic_leave_room(conn.sid, "/", booking_room(p.booking_id))
            self.bookings.detach(p.booking_id, conn.sid)
        attached = await self.bookings.attach(
            p.booking_id, conn.sid, p.last_seq,
            lambda item: self._send(conn, "booking:update", {"booking_id": str(p.booking_id), "seq": item.seq, "event": item.body}),
            lambda: self._enter(conn, key, booking_room(p.booking_id)),
        )
        return ok(last_seq=attached.upto, sent=attached.sent, truncated_before=attached.truncated_before)

    async def unsubscribe_booking(self, conn: Conn, p: BookingRef) -> dict[str, Any]:
        assert self.bookings is not None
        self._leave(conn, ("booking", p.booking_id), booking_room(p.booking_id), self.bookings)
        return ok()

    async def subscribe_feed(self, conn: Conn, p: FeedSubscribe) -> dict[str, Any]:
        """Follow every booking of yours; missed updates after `last_seq` come first."""
        assert self.feeds is not None
        key = ("feed", conn.user_id)
        if key in conn.subscribed:
            conn.endpoint.manager.basic_leave_room(conn.sid, "/", feed_room(conn.user_id))
            self.feeds.detach(conn.user_id, conn.sid)
        attached = await self.feeds.attach(
            conn.user_id, conn.sid, p.last_seq,
            lambda item: self._send(conn, "bookings:update", {
                "seq": item.seq, "booking_id": str(item.booking_id), "booking_seq": item.booking_seq, "event": item.body}),
            lambda: self._enter(conn, key, feed_room(conn.user_id)),
        )
        return ok(last_seq=attached.upto, sent=attached.sent, truncated_before=attached.truncated_before)

    async def unsubscribe_feed(self, conn: Conn, p: Nothing) -> dict[str, Any]:
        assert self.feeds is not None
        self._leave(conn, ("feed", conn.user_id), feed_room(conn.user_id), self.feeds)
        return ok()

    async def _send(self, conn: Conn, event: str, data: dict[str, Any]) -> None:
        await self._ch.emit_local(event, data, to=conn.sid)

    @staticmethod
    def _enter(conn: Conn, key: tuple[str, uuid.UUID], room: str) -> None:
        conn.endpoint.manager.basic_enter_room(conn.sid, "/", room)
        conn.subscribed |= {key}

    @staticmethod
    def _leave(conn: Conn, key: tuple[str, uuid.UUID], room: str, streams: Streams) -> None:
        if key in conn.subscribed:
            conn.endpoint.manager.basic_leave_room(conn.sid, "/", room)
            streams.detach(key[1], conn.sid)
            conn.subscribed -= {key}

    async def _forget(self, conn: Conn) -> None:
        for kind, key in conn.subscribed:
            streams = self.bookings if kind == "booking" else self.feeds
            if streams is not None:
                streams.detach(key, conn.sid)
