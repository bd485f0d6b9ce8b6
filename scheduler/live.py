"""Publishing committed booking changes and notifications on the bus, for the Socket.IO layer to push.

The messages are `BookingChanged` and `NotificationCreated` (storage/bus_messages.py).

Publishing happens only after the transaction commits and is best-effort: the
durable copies are in PostgreSQL (booking_events, booking_feed, notifications)
and subscribers recover from there by sequence number after a gap.
"""

from __future__ import annotations

from typing import Any

from storage.bookings import Written
from storage.bus import Bus
from storage.bus_messages import BookingChanged, NotificationCreated
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
    return [
        (NotificationCreated.channel, NotificationCreated(n.user_id, notification_body(n)).encode()) for n in notices
    ]


async def publish_notices(bus: Bus, notices: list[Notice]) -> None:
    await bus.publish_many(_notices(notices))


async def publish(bus: Bus, written: Written) -> None:
    """Announce one committed booking change and the notifications it produced (one round trip to Redis)."""
    change = BookingChanged(written.booking_id, written.booking_seq, written.feed, written.event)
    await bus.publish_many([(change.channel, change.encode()), *_notices(written.notices)])
