"""Bookings: create (idempotent), read, list, change status, reschedule, and the event streams for recovery.

Only the two participants see a booking; to anyone else it does not exist
(404). Reads are audited, since a booking shows the other person's data. The
state machine (scheduler/states.py) decides every change; a refused one is a
409 with a code (illegal_transition, too_early, too_late) or 403 (forbidden).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from scheduler import bookings as service
from scheduler.events import iso
from scheduler.states import Action, Status
from storage import bookings
from storage.bookings import BookingDetail

from ..errors import NotFound, Unprocessable
from ..routing import Call, Header, Input, Output, QueryInput, RouteTable
from .fields import Instant, Seq, Text, instant
from .scheduling import scheduler

routes = RouteTable("bookings")

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
IDEMPOTENCY_KEY = Header(
    "Idempotency-Key", "Makes a retry safe: the same key returns the same booking (200) instead of booking twice.",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]{1,200}$"},
)
StatusName = Literal["requested", "confirmed", "in_session", "completed", "declined", "cancelled", "no_show"]


class BookingIn(Input):
    offering_id: uuid.UUID
    start_at: Instant = Field(description="One of the offering's slots, with its offset.")
    note: Text | None = Field(None, max_length=2000, description="For the practitioner; stored encrypted.")


class RescheduleIn(Input):
    start_at: Instant


class ReasonIn(Input):
    reason: Text | None = Field(None, max_length=1000, description="Shown to the other participant; stored encrypted.")


class PersonOut(Output):
    id: uuid.UUID
    display_name: str
    time_zone: str = Field(description="Their account's time zone (for a practitioner: not always the zone of their hours).")


class OfferingRef(Output):
    id: uuid.UUID
    name: str


class CancellationOut(Output):
    by_role: Literal["client", "practitioner", "system"] | None
    by_user_id: uuid.UUID | None
    at: Instant
    late: bool | None = Field(description="Inside the offering's late-cancellation window.")
    reason: str | None


class BookingOut(Output):
    id: uuid.UUID
    status: StatusName
    offering: OfferingRef
    mode: Literal["video", "in_person"]
    address: str | None
    start_at: Instant
    end_at: Instant
    practitioner: PersonOut
    client: PersonOut
    conversation_id: uuid.UUID
    price_minor: int
    currency: str
    note: str | None
    expires_at: Instant | None = Field(description="When an unanswered request lapses.")
    cancellation: CancellationOut | None
    decline_reason: str | None
    rescheduled_from: uuid.UUID | None
    rescheduled_to: uuid.UUID | None
    seq: int = Field(description="Changes so far; the seq of this booking's latest event.")
    created_at: Instant
    updated_at: Instant


class BookingList(Output):
    items: list[BookingOut]
    next_after: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class ListQuery(QueryInput):
    status: str | None = Field(None, description="Comma-separated statuses.")
    start: Instant | None = Field(None, alias="from", description="Sessions starting at or after.")
    end: Instant | None = Field(None, alias="to", description="Sessions starting before.")
    limit: int = Field(50, ge=1, le=200)
    after: str | None = Field(None, max_length=100)

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is not None and not set(value.split(",")) <= {s.value for s in Status}:
            raise ValueError(f"statuses are {', '.join(s.value for s in Status)}")
        return value


class EventsQuery(QueryInput):
    after: Seq = Field(0, description="Return events with a seq above this.")
    limit: int = Field(100, ge=1, le=500)


class EventOut(Output):
    seq: int
    kind: str
    actor_role: Literal["client", "practitioner", "system"]
    actor_id: uuid.UUID | None
    from_status: str | None
    to_status: str
    at: Instant
    body: dict[str, object] = Field(description="The event as published live (see docs/booking.md).")


class EventsOut(Output):
    booking_id: uuid.UUID
    events: list[EventOut]


class FeedItemOut(Output):
    seq: int = Field(description="Your feed sequence number.")
    booking_id: uuid.UUID
    booking_seq: int
    event: dict[str, object]


class BookingFeedOut(Output):
    items: list[FeedItemOut]
    last_seq: int = Field(description="Your latest feed seq; ask again with after=last_seq.")


def booking_out(d: BookingDetail) -> BookingOut:
    b = d.booking
    cancellation = None
    if b.cancelled_at is not None:
        cancellation = CancellationOut(
            by_role=b.cancelled_by_role, by_user_id=b.cancelled_by, at=b.cancelled_at,  # type: ignore[arg-type]
            late=b.cancelled_late, reason=b.cancel_reason,
        )
    return BookingOut(
        id=b.id, status=b.status, offering=OfferingRef(id=b.offering_id, name=d.offering_name),  # type: ignore[arg-type]
        mode=b.mode, address=d.address, start_at=b.start_at, end_at=b.end_at,  # type: ignore[arg-type]
        practitioner=PersonOut.model_validate(d.practitioner), client=PersonOut.model_validate(d.client),
        conversation_id=b.conversation_id, price_minor=b.price_minor, currency=b.currency, note=b.note,
        expires_at=b.expires_at, cancellation=cancellation, decline_reason=b.decline_reason,
        rescheduled_from=b.rescheduled_from, rescheduled_to=b.rescheduled_to, seq=b.seq, created_at=b.created_at,
        updated_at=b.updated_at,
    )


def _idempotency_key(call: Call[Any]) -> str:
    key = call.request.headers.get("Idempotency-Key")
    if key is None or not _KEY.match(key):
        raise Unprocessable(
            "Send an Idempotency-Key header (1-200 printable characters, e.g. a UUID) so a retry cannot book twice.",
            details=[{"loc": ["header", "Idempotency-Key"], "message": "required: 1-200 printable ASCII characters",
                      "type": "missing" if key is None else "value_error"}],
        )
    return key


def _other(d: BookingDetail, user_id: uuid.UUID) -> uuid.UUID:
    b = d.booking
    return b.practitioner_id if user_id == b.client_id else b.client_id


async def _participant_view(call: Call[Any], booking_id: uuid.UUID) -> BookingDetail:
    """The booking if the caller is one of its participants (404 otherwise), with the read audited."""
    found = await bookings.get_with_participants(call.runtime.db, booking_id)
    me = call.principal.user_id
    if found is None or me not in found.booking.participants:
        raise NotFound("No booking with that id.")
    await call.audit("booking.read", subject_id=_other(found, me), resource=f"booking:{booking_id}")
    return found


@routes.post(
    "/bookings", body=BookingIn, response=BookingOut, status=201, also_status=(200,), errors=(409, 422),
    scope="bookings:write",
    headers=(IDEMPOTENCY_KEY,),
)
async def create_booking(call: Call[BookingIn]) -> BookingOut:
    """Book a slot. Send an Idempotency-Key header: a retry with it returns the same booking (200)."""
    key = _idempotency_key(call)
    body = call.body
    detail, created = await service.book(
        scheduler(call).deps, call.principal.user, offering_id=body.offering_id, start=body.start_at,
        note=body.note, key=key,
    )
    if not created:
        call.status = 200
    return booking_out(detail)


@routes.get("/bookings", query=ListQuery, response=BookingList, errors=(422,), scope="bookings:read")
async def list_bookings(call: Call[None]) -> BookingList:
    """Your bookings, as client or practitioner, by start time."""
    q: ListQuery = call.query
    after = None
    if q.after is not None:
        try:
            at, _, raw_id = q.after.rpartition("_")
            after = (instant(at), uuid.UUID(raw_id))
        except ValueError:
            raise Unprocessable("`after` is not a cursor this API returned.", details=[
                {"loc": ["query", "after"], "message": "invalid cursor", "type": "value_error"}
            ]) from None
    found = await bookings.list_for_user(
        call.runtime.db, call.principal.user_id, statuses=q.status.split(",") if q.status else None,
        start_from=q.start, start_to=q.end, limit=q.limit, after=after,
    )
    await call.audit("booking.list", subject_id=None, resource=f"bookings:{call.principal.user_id}")
    last = found[-1].booking if len(found) == q.limit else None
    return BookingList(
        items=[booking_out(d) for d in found],
        next_after=None if last is None else f"{iso(last.start_at)}_{last.id}",
    )


@routes.get("/bookings/{booking_id}", response=BookingOut, errors=(404,), scope="bookings:read")
async def get_booking(call: Call[None]) -> BookingOut:
    """One of your bookings, with the note and any cancellation reason."""
    return booking_out(await _participant_view(call, call.uuid("booking_id")))


async def _act(call: Call[Any], action: Action, reason: str | None = None) -> BookingOut:
    booking_id = call.uuid("booking_id")
    detail = await service.act(scheduler(call).deps, booking_id, action, actor=call.principal.user, reason=reason)
    await call.audit(f"booking.{action.value}", subject_id=_other(detail, call.principal.user_id),
                     resource=f"booking:{booking_id}")
    return booking_out(detail)


@routes.post("/bookings/{booking_id}/confirm", response=BookingOut, errors=(403, 404, 409), scope="bookings:write")
async def confirm(call: Call[None]) -> BookingOut:
    """Practitioner: accept a request."""
    return await _act(call, Action.CONFIRM)


@routes.post("/bookings/{booking_id}/decline", body=ReasonIn, response=BookingOut, errors=(403, 404, 409), scope="bookings:write")
async def decline(call: Call[ReasonIn]) -> BookingOut:
    """Practitioner: turn a request down, optionally saying why."""
    return await _act(call, Action.DECLINE, call.body.reason)


@routes.post("/bookings/{booking_id}/cancel", body=ReasonIn, response=BookingOut, errors=(403, 404, 409), scope="bookings:write")
async def cancel(call: Call[ReasonIn]) -> BookingOut:
    """Either participant: cancel before the start. Records who, why, and whether it was late."""
    return await _act(call, Action.CANCEL, call.body.reason)


@routes.post("/bookings/{booking_id}/start", response=BookingOut, errors=(403, 404, 409), scope="bookings:write")
async def start(call: Call[None]) -> BookingOut:
    """Either participant: the session begins (from 10 minutes before its start until 15 minutes after its end)."""
    return await _act(call, Action.START)


@routes.post("/bookings/{booking_id}/complete", response=BookingOut, errors=(403, 404, 409), scope="bookings:write")
async def complete(call: Call[None]) -> BookingOut:
    """End a session in progress (either participant), or mark one as held once it has started (practitioner)."""
    return await _act(call, Action.COMPLETE)


@routes.post("/bookings/{booking_id}/no-show", response=BookingOut, errors=(403, 404, 409), scope="bookings:write")
async def no_show(call: Call[None]) -> BookingOut:
    """Practitioner: the client did not come (once the start has passed)."""
    return await _act(call, Action.NO_SHOW)


@routes.post(
    "/bookings/{booking_id}/reschedule", body=RescheduleIn, response=BookingOut, status=201, also_status=(200,),
    errors=(403, 404, 409, 422), headers=(IDEMPOTENCY_KEY,), scope="bookings:write",
)
async def reschedule(call: Call[RescheduleIn]) -> BookingOut:
    """Move a booking in one step: a new booking at the new time, the old one cancelled and linked. Idempotent."""
    key = _idempotency_key(call)
    detail, created = await service.reschedule(
        scheduler(call).deps, call.principal.user, call.uuid("booking_id"), start=call.body.start_at, key=key
    )
    if not created:
        call.status = 200
    return booking_out(detail)


@routes.get("/bookings/{booking_id}/events", query=EventsQuery, response=EventsOut, errors=(404, 422), scope="bookings:read")
async def booking_events(call: Call[None]) -> EventsOut:
    """The booking's history: every change in order, each with the event published live."""
    booking_id = call.uuid("booking_id")
    await _participant_view(call, booking_id)
    q: EventsQuery = call.query
    found = await bookings.booking_events_since(call.runtime.db, booking_id, q.after, q.limit)
    return EventsOut(booking_id=booking_id, events=[EventOut.model_validate(e) for e in found])


@routes.get("/me/booking-feed", query=EventsQuery, response=BookingFeedOut, errors=(422,), scope="bookings:read")
async def booking_feed(call: Call[None]) -> BookingFeedOut:
    """Changes to any of your bookings after your feed seq `after`, to catch up after a disconnect."""
    q: EventsQuery = call.query
    db, me = call.runtime.db, call.principal.user_id
    found = await bookings.feed_events_since(db, me, q.after, q.limit)
    if found:
        await call.audit("booking.feed", subject_id=None, resource=f"booking-feed:{me}")
    return BookingFeedOut(
        items=[FeedItemOut(seq=f.seq, booking_id=f.booking_id, booking_seq=f.booking_seq, event=f.body) for f in found],
        last_seq=await bookings.feed_position(db, me),
    )
