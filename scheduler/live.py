"""Publishing committed booking changes and notifications on the bus, for the Socket.IO layer to push.

Contract (docs/booking.md):
- channel "bookings": msgpack map {"booking_id": str, "booking_seq": int,
  "feed": {user_id: user_seq, ...}, "event": <event body>}
- channel "notifications": msgpack map {"user_id": str, "notification": <notification>}

Publishing happens only after the transaction commits and is best-effort: the
durable copies are in PostgreSQL (booking_events, booking_feed, notifications)
and subscribers recover from there by sequence number after a gap.
"""

from __future__ import annotations

from typing import Any

import msgpack

from server.bus import Bus
from storage.bookings import Written
from storage.notifications import Notice

from .events import iso

BOOKINGS = "bookings"
NOTIFICATIONS = "notifications"


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
        (NOTIFICATIONS, msgpack.packb({"user_id": str(n.user_id), "notification": notification_body(n)}))
        for n in notices
    ]


async def publish_notices(bus: Bus, notices: list[Notice]) -> None:
    await bus.publish_many(_notices(notices))


async def publish(bus: Bus, written: Written) -> None:
    """Announce one committed booking change and the notifications it produced (one round trip to Redis)."""
    envelope = {
        "booking_id": str(written.booking_id),
        "booking_seq": written.booking_seq,
        "feed": {str(user): seq for user, seq in written.feed.items()},
        "event": written.event,
    }
    await bus.publish_many([(BOOKINGS, msgpack.packb(envelope)), *_notices(written.notices)])
