"""Publishing committed booking changes and notifications on the bus, for the Socket.IO layer to push.

The messages are `BookingChanged`, for notifications `UserPush`, and for the practitioner's "available now"
marker `AvailabilityChanged` (storage/bus_messages.py).

Publishing happens only after the transaction commits and is best-effort: the
durable copies are in PostgreSQL (booking_events, booking_feed, notifications)
and subscribers recover from there by sequence number after a gap.
"""

from __future__ import annotations

import uuid
from typing import Any

from storage.bookings import Written
from storage.bus import Bus
from storage.bus_messages import AvailabilityChanged, BookingChanged, UserPush
from storage.notifications import Notice

from .events import iso


def notification_body(n: Notice) -> dict[str, Any]:
    """A notification as the REST API lists it and the bus carries it."""
    return {
        "id": str(n.id),
        "kind": n.kind,
        "category": n.category,
        "booking_id": None if n.booking_id is None else str(n.booking_id),
        "data": n.data,
        "created_at": iso(n.created_at),
        "read_at": iso(n.read_at),
    }


def _notices(notices: list[Notice]) -> list[tuple[str, bytes]]:
    created = [UserPush(n.user_id, "notification:new", notification_body(n)) for n in notices]
    return [(c.channel, c.encode()) for c in created]


async def publish_notices(bus: Bus, notices: list[Notice]) -> None:
    await bus.route_many(_notices(notices))


async def publish_available(bus: Bus, practitioner_id: uuid.UUID) -> None:
    """A session of the practitioner starts or ends: watchers of their "available now" marker look again."""
    message = AvailabilityChanged(practitioner_id)
    await bus.route_many([(message.channel, message.encode())])


async def publish(bus: Bus, written: Written) -> None:
    """Announce one committed booking change and the notifications it produced (one round trip to Redis), on
    the routed channels of the booking, of each participant's feed and of each notified user: this process's
    sockets hear them first, then the processes with a socket that follows them (or, for a video booking,
    the process hosting its session). The practitioner's "available now" channel hears it too (a booking
    confirmed, started or cancelled around now changes it); without a watcher it costs Redis nothing more."""
    change = BookingChanged(written.booking_id, written.booking_seq, written.feed, written.event)
    data = change.encode()
    available = AvailabilityChanged(uuid.UUID(change.booking["practitioner_id"]))
    await bus.route_many([*((channel, data) for channel in change.routes()), *_notices(written.notices),
                          (available.channel, available.encode())])
