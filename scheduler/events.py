"""The body of a booking event: what live subscribers receive and what recovery after a reconnect returns.

One body per change, stored in `booking_events.body` and published on the
bus unchanged (storage adds `booking_seq`). It carries no health data: the
client's note and cancellation reasons are read over REST, where access is
authorized and audited. Documented in docs/booking.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from storage.bookings import Booking, NewBooking

from .states import Role


def iso(instant: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, as the REST API writes instants, whatever offset `instant` carries: an event or
    a notification must say the same as a later read, and must not pass one person's offset to the other."""
    return None if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _uid(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def booking_state(b: Booking, **changes: Any) -> dict[str, Any]:
    """The booking as an event shows it, with `changes` (already JSON-able) applied over the stored row."""
    state: dict[str, Any] = {
        "id": str(b.id),
        "status": b.status,
        "practitioner_id": str(b.practitioner_id),
        "client_id": str(b.client_id),
        "offering_id": str(b.offering_id),
        "conversation_id": str(b.conversation_id),
        "mode": b.mode,
        "start_at": iso(b.start_at),
        "end_at": iso(b.end_at),
        "expires_at": iso(b.expires_at),
        "rescheduled_from": _uid(b.rescheduled_from),
        "rescheduled_to": _uid(b.rescheduled_to),
        "cancelled_by_role": b.cancelled_by_role,
        "cancelled_late": b.cancelled_late,
    }
    state.update(changes)
    return state


def created_state(new: NewBooking, *, rescheduled_from: uuid.UUID | None = None) -> dict[str, Any]:
    """The state of a booking being created (storage fills in `conversation_id`)."""
    return {
        "id": str(new.id),
        "status": new.status,
        "practitioner_id": str(new.practitioner_id),
        "client_id": str(new.client_id),
        "offering_id": str(new.offering_id),
        "conversation_id": None,
        "mode": new.mode,
        "start_at": iso(new.start_at),
        "end_at": iso(new.end_at),
        "expires_at": iso(new.expires_at),
        "rescheduled_from": _uid(rescheduled_from),
        "rescheduled_to": None,
        "cancelled_by_role": None,
        "cancelled_late": None,
    }


def body(kind: str, booking: dict[str, Any], *, role: Role, actor_id: uuid.UUID | None, at: datetime) -> dict[str, Any]:
    """The event body of change `kind` (created, confirmed, declined, expired, cancelled, rescheduled,
    started, completed, no_show) made by `role` at `at`, showing the booking after it."""
    return {
        "type": f"booking.{kind}",
        "booking_id": booking["id"],
        "at": iso(at),
        "actor": {"role": role.value, "user_id": _uid(actor_id)},
        "booking": booking,
    }
