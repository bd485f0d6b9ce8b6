"""Live booking updates and in-app notifications, pushed from the scheduler's bus events.

The scheduler commits each booking change with a per-booking seq and a seq in
each participant's feed, and announces it on the bus (docs/booking.md). Here a
socket can follow one booking it takes part in (`booking:subscribe`) or all of
its own bookings (`bookings:subscribe`); both use `Streams`, so updates arrive
in order and recover after a reconnect exactly like chat messages.
Notifications are pushed to the user's private room as they are announced;
the REST list is their durable record.

Each stream and each user is a routed bus channel (storage/bus.py): this
process hears a booking's, a feed's or a user's announcements only while one of
its sockets follows it or, for notifications, while the user has a socket here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import Field

from storage import audit, bookings
from storage.bus import Bus, Handler
from storage.bus_messages import BookingChanged, UserEvent, booking_channel, decode_user, feed_channel, user_channel
from storage.database import Database

from .connections import Conn
from .hub import Hub, user_room
from .interface import EventError, Payload, Seq, ok
from .sources import BookingSource, FeedSource
from .streams import Streams


class BookingRef(Payload):
    booking_id: uuid.UUID = Field(strict=False)


class BookingSubscribe(BookingRef):
    last_seq: Seq = 0


class FeedSubscribe(Payload):
    last_seq: Seq = 0


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


@dataclass(frozen=True, slots=True)
class _Kind:
    """A kind of followed stream: the event its items arrive as, its room, and an item's payload."""

    event: str
    room: Callable[[uuid.UUID], str]
    payload: Callable[[Any], dict[str, Any]]


_KINDS = {
    "booking": _Kind("booking:update", booking_room,
                     lambda i: {"booking_id": str(i.booking_id), "seq": i.seq, "event": i.body}),
    "feed": _Kind("bookings:update", feed_room,
                  lambda i: {"seq": i.seq, "booking_id": str(i.booking_id), "booking_seq": i.booking_seq, "event": i.body}),
}


class Live:
    """Booking subscriptions and notification pushes of one process."""

    def __init__(self, hub: Hub, db: Database, bus: Bus) -> None:
        self._hub = hub
        self._db = db
        self._bus = bus
        self._users: set[uuid.UUID] = set()  # users with a socket here, who hear their notifications
        self._streams = {
            "booking": Streams(BookingSource(db), partial(self._deliver, _KINDS["booking"]),
                               listen=partial(self._listen, booking_channel, self._on_booking),
                               unlisten=partial(self._unlisten, booking_channel, self._on_booking)),
            "feed": Streams(FeedSource(db), partial(self._deliver, _KINDS["feed"]),
                            listen=partial(self._listen, feed_channel, self._on_feed),
                            unlisten=partial(self._unlisten, feed_channel, self._on_feed)),
        }
        hub.on_connect(self._connected)
        hub.on("booking:subscribe", BookingSubscribe, self.subscribe_booking)
        hub.on("booking:unsubscribe", BookingRef, self.unsubscribe_booking)
        hub.on("bookings:subscribe", FeedSubscribe, self.subscribe_feed)
        hub.on("bookings:unsubscribe", Nothing, self.unsubscribe_feed)
        hub.on_disconnect(self._forget)

    @classmethod
    @asynccontextmanager
    async def running(cls, hub: Hub, db: Database, bus: Bus) -> AsyncIterator[Live]:
        """Follow the scheduler's announcements on `bus` until the block exits."""
        live = cls(hub, db, bus)
        for streams in live._streams.values():
            bus.on_reconnect(streams.catch_up)
        try:
            yield live
        finally:
            for streams in live._streams.values():
                await streams.close()
            for user in live._users:
                bus.unroute(user_channel(user), live._on_notification)

    async def _listen(self, channel: Callable[[uuid.UUID], str], handler: Handler, key: uuid.UUID) -> None:
        await self._bus.route(channel(key), handler)

    def _unlisten(self, channel: Callable[[uuid.UUID], str], handler: Handler, key: uuid.UUID) -> None:
        self._bus.unroute(channel(key), handler)

    async def _connected(self, conn: Conn) -> None:
        """The user's first socket here: start hearing their notifications."""
        user = conn.user_id
        if user not in self._users and self._hub.conns.count_of(user) > 0:  # not gone again already
            self._users.add(user)
            await self._bus.route(user_channel(user), self._on_notification)

    async def _deliver(self, kind: _Kind, key: uuid.UUID, item: Any) -> None:
        await self._hub.emit_local(kind.event, kind.payload(item), to=kind.room(key))

    async def _on_booking(self, _: str, data: bytes) -> None:
        """A change on a booking's channel: for the sockets following that booking."""
        change = BookingChanged.decode(data)
        booking_id, booking_seq, body = change.booking_id, change.booking_seq, change.event
        await self._streams["booking"].committed(booking_id, _BookingUpdate(booking_id, booking_seq, body))

    async def _on_feed(self, channel: str, data: bytes) -> None:
        """A change on a user's feed channel: for the sockets following all that user's bookings."""
        change = BookingChanged.decode(data)
        for user_id, seq in change.feed.items():
            if feed_channel(user_id) == channel:
                item = _FeedUpdate(user_id, seq, change.booking_id, change.booking_seq, change.event)
                await self._streams["feed"].committed(user_id, item)

    async def _on_notification(self, _: str, data: bytes) -> None:
        message = decode_user(data)
        if isinstance(message, UserEvent):  # consent:granted, consent:revoked
            await self._hub.emit_local(message.event, message.data, to=user_room(message.user_id))
            return
        await self._hub.emit_local("notification:new", message.notification, to=user_room(message.user_id))

    async def subscribe_booking(self, conn: Conn, p: BookingSubscribe) -> dict[str, Any]:
        """Follow one booking you take part in; missed updates after `last_seq` come first."""
        if not await bookings.is_participant(self._db, p.booking_id, conn.user_id):
            raise EventError("not_participant", "You do not take part in this booking.")
        await audit.record(self._db, actor_id=conn.user_id, action="booking.subscribe", subject_id=None,
                           resource=f"booking:{p.booking_id}", request_id=None)
        return await self._follow(conn, "booking", p.booking_id, p.last_seq)

    async def unsubscribe_booking(self, conn: Conn, p: BookingRef) -> dict[str, Any]:
        self._leave(conn, "booking", p.booking_id)
        return ok()

    async def subscribe_feed(self, conn: Conn, p: FeedSubscribe) -> dict[str, Any]:
        """Follow every booking of yours; missed updates after `last_seq` come first."""
        return await self._follow(conn, "feed", conn.user_id, p.last_seq)

    async def unsubscribe_feed(self, conn: Conn, p: Nothing) -> dict[str, Any]:
        self._leave(conn, "feed", conn.user_id)
        return ok()

    async def _follow(self, conn: Conn, name: str, key: uuid.UUID, last_seq: int) -> dict[str, Any]:
        """Attach `conn` to a stream from `last_seq` (a repeated subscription restarts its recovery)."""
        kind, streams = _KINDS[name], self._streams[name]
        self._leave(conn, name, key)

        async def send(item: Any) -> None:
            await self._hub.emit_local(kind.event, kind.payload(item), to=conn.sid)

        def enter() -> None:
            self._hub.enter_room(conn, kind.room(key))
            conn.subscribed |= {(name, key)}

        attached = await streams.attach(key, conn.sid, last_seq, send, enter)
        return ok(last_seq=attached.upto, sent=attached.sent, truncated_before=attached.truncated_before)

    def _leave(self, conn: Conn, name: str, key: uuid.UUID) -> None:
        if (name, key) in conn.subscribed:
            self._hub.leave_room(conn, _KINDS[name].room(key))
            self._streams[name].detach(key, conn.sid)
            conn.subscribed -= {(name, key)}

    async def _forget(self, conn: Conn) -> None:
        for name, key in conn.subscribed:
            self._streams[name].detach(key, conn.sid)
        if conn.user_id in self._users and self._hub.conns.count_of(conn.user_id) == 0:
            self._users.discard(conn.user_id)
            self._bus.unroute(user_channel(conn.user_id), self._on_notification)
