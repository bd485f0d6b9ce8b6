"""Who is told what about a booking change, and with which data.

The data of a notification is what a client app or an email needs to say it
("your session with Ada on Tuesday at 09:00 was confirmed"): times in UTC,
the offering's name, the other person's name. Never a note or a reason.
Recipients see times in their own time zone, which is applied when shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.bookings import BookingDetail, Person
from storage.notifications import NewNotice

from .events import iso
from .states import Role

# Change kind -> (notification kind, who is told) for changes that notify someone.
_UPDATES: dict[str, tuple[str, str]] = {
    "requested": ("booking_requested", "practitioner"),
    "created": ("booking_created", "practitioner"),
    "confirmed": ("booking_confirmed", "client"),
    "declined": ("booking_declined", "client"),
    "expired": ("booking_expired", "client"),
    "cancelled": ("booking_cancelled", "other"),
    "rescheduled": ("booking_rescheduled", "other"),
}


@dataclass(frozen=True, slots=True)
class Gist:
    """What notifications say about a booking."""

    booking_id: uuid.UUID
    offering_name: str
    mode: str
    address: str | None
    start_at: datetime
    end_at: datetime
    client: Person
    practitioner: Person

    @classmethod
    def of(cls, detail: BookingDetail) -> Gist:
        b = detail.booking
        return cls(b.id, detail.offering_name, b.mode, detail.address, b.start_at, b.end_at, detail.client,
                   detail.practitioner)


def data(gist: Gist, *, recipient_is_client: bool, **extra: Any) -> dict[str, Any]:
    other = gist.practitioner if recipient_is_client else gist.client
    return {
        "booking_id": str(gist.booking_id),
        "offering_name": gist.offering_name,
        "mode": gist.mode,
        "address": gist.address,
        "start_at": iso(gist.start_at),
        "end_at": iso(gist.end_at),
        "counterpart": {"id": str(other.id), "display_name": other.display_name},
        **extra,
    }


def for_change(kind: str, gist: Gist, actor: Role, **extra: Any) -> list[NewNotice]:
    """The notifications of change `kind`, made by `actor`, to the booking now described by `gist`."""
    if kind not in _UPDATES:
        return []
    notice_kind, audience = _UPDATES[kind]
    if audience == "other":
        audience = "practitioner" if actor is Role.CLIENT else "client"
    to_client = audience == "client"
    recipient = gist.client.id if to_client else gist.practitioner.id
    return [NewNotice(recipient, notice_kind, "update", gist.booking_id, data(gist, recipient_is_client=to_client, **extra))]


def reminders(name: str, gist: Gist) -> list[NewNotice]:
    """Reminder `name` (24h, 15m) to both participants; each can be written once only."""
    return [
        NewNotice(
            person.id, f"reminder_{name}", "reminder", gist.booking_id,
            data(gist, recipient_is_client=person is gist.client),
            dedupe_key=f"reminder:{name}:{gist.booking_id}:{person.id}",
        )
        for person in (gist.client, gist.practitioner)
    ]
