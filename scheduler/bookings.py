"""The booking service: create, reschedule and change bookings, then announce what changed.

Each operation decides in Python (the slot finder, the state machine), writes
through one storage unit of work (the practitioner lock and overlap check live
there), and publishes the committed change on the bus. HTTP handlers call it
for people; job handlers call it for the system.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storage import availability, bookings
from storage.accounts import User
from storage.availability import Snapshot
from storage.bookings import BookingDetail, Change, Created, NewBooking, Outcome, Person
from storage.bus import Bus
from storage.clock import Clock
from storage.database import Database
from storage.jobs import NewJob
from storage.practitioners import Offering

from . import events, live, notices, timeline
from .errors import Refused, not_found, slot_unavailable
from .localtime import day_bounds, local_day
from .notices import Gist
from .schedule import finder
from .states import Action, Role, Status, decide, is_late_cancellation

ONE_DAY = timedelta(days=1)

_KIND = {
    Action.CONFIRM: "confirmed", Action.DECLINE: "declined", Action.EXPIRE: "expired", Action.CANCEL: "cancelled",
    Action.START: "started", Action.COMPLETE: "completed", Action.NO_SHOW: "no_show",
}


@dataclass(frozen=True, slots=True)
class Deps:
    """What the booking service works with; `email` says whether an SMTP relay is configured."""

    db: Database
    bus: Bus
    clock: Clock
    email: bool


class _Replayed(Exception):
    """Rolls back a reschedule that lost a race to its own retry."""

    def __init__(self, booking_id: uuid.UUID) -> None:
        self.booking_id = booking_id


def request_hash(*parts: object) -> bytes:
    """Fingerprint of a request, to tell a retry (same key, same request) from a reused key."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()


def role_of(detail: BookingDetail, user_id: uuid.UUID) -> Role | None:
    b = detail.booking
    if user_id == b.client_id:
        return Role.CLIENT
    if user_id == b.practitioner_id:
        return Role.PRACTITIONER
    return None


async def _snapshot_around(
    deps: Deps, start: datetime, *, practitioner_id: uuid.UUID | None, offering_id: uuid.UUID,
    requested_by: uuid.UUID, key: str,
) -> Snapshot | None:
    # Local dates lie within a day of the UTC date; one more day back for hours running on past midnight.
    return await availability.snapshot(
        deps.db, practitioner_id=practitioner_id, offering_id=offering_id,
        first_day=(start - 2 * ONE_DAY).date(), last_day=(start + 2 * ONE_DAY).date(),
        span_from=start - ONE_DAY, span_to=start + 2 * ONE_DAY, with_held=False,
        requested_by=requested_by, idempotency_key=key,
    )


async def _replayed(deps: Deps, snap: Snapshot, fingerprint: bytes) -> BookingDetail | None:
    """The booking an earlier request with this key made, if this is its retry."""
    if snap.replay is None:
        return None
    if snap.replay.request_hash != fingerprint:
        raise _key_reused()
    return await bookings.get_with_participants(deps.db, snap.replay.booking_id)


def _key_reused() -> Refused:
    return Refused(409, "idempotency_key_reused", "This Idempotency-Key was already used for a different request.")


def _new_booking(
    snap: Snapshot, offering: Offering, *, client_id: uuid.UUID, requested_by: uuid.UUID, role: Role,
    start: datetime, note: str | None, status: Status, key: str, fingerprint: bytes, now: datetime,
) -> NewBooking:
    p = snap.practitioner
    tz = ZoneInfo(p.time_zone)
    end = start + timedelta(minutes=offering.duration_min)
    day_start, day_end = day_bounds(local_day(start, tz), tz)
    expires = None
    if status is Status.REQUESTED:
        expires = timeline.request_expiry(now, start, timedelta(minutes=p.rules.request_ttl_min))
    return NewBooking(
        id=uuid.uuid4(), practitioner_id=p.user_id, client_id=client_id, offering_id=offering.id,
        status=status.value, mode=offering.mode, start_at=start, end_at=end,
        blocked_from=start - timedelta(minutes=p.rules.buffer_before_min),
        blocked_to=end + timedelta(minutes=p.rules.buffer_after_min),
        day_start=day_start, day_end=day_end, max_per_day=p.rules.max_per_day, capacity=offering.capacity,
        price_minor=offering.price_minor, currency=offering.currency, late_cancel_min=offering.late_cancel_min,
        note=note, requested_by=requested_by, actor_role=role.value, idempotency_key=key, request_hash=fingerprint,
        expires_at=expires,
    )


def _timeline_of(new: NewBooking, now: datetime) -> NewJob:
    if new.status == Status.REQUESTED:
        assert new.expires_at is not None
        return timeline.requested(new.id, new.expires_at)
    return timeline.confirmed(new.id, new.start_at, new.end_at, now)


def _refusal(created: Created) -> Refused:
    if created.outcome is Outcome.KEY_REUSED:
        return _key_reused()
    return slot_unavailable(created.outcome.value)


async def book(
    deps: Deps, requester: User, *, offering_id: uuid.UUID, start: datetime, note: str | None, key: str
) -> tuple[BookingDetail, bool]:
    """Book `offering_id` at `start` for `requester`; returns the booking and whether it was created now
    (False: a retry with the same Idempotency-Key, answered with the booking it made)."""
    now = deps.clock.now()
    start = start.astimezone(UTC)  # the caller's offset goes no further: not into the answer, events or notices
    fingerprint = request_hash("book", offering_id, start.isoformat(), note)
    snap = await _snapshot_around(
        deps, start, practitioner_id=None, offering_id=offering_id, requested_by=requester.id, key=key
    )
    if snap is None or snap.offering is None or not snap.offering.active:
        raise Refused(422, "unknown_offering", "No bookable offering with that id.", [{"loc": ["body", "offering_id"]}])
    if (earlier := await _replayed(deps, snap, fingerprint)) is not None:
        return earlier, False
    offering, practitioner = snap.offering, snap.practitioner
    if requester.id == practitioner.user_id:
        raise Refused(422, "cannot_book_self", "Practitioners cannot book their own offerings.")
    if (refusal := finder(snap, offering, now).check(start)) is not None:
        raise slot_unavailable(refusal.value)
    status = Status.REQUESTED if offering.needs_approval else Status.CONFIRMED
    new = _new_booking(
        snap, offering, client_id=requester.id, requested_by=requester.id, role=Role.CLIENT, start=start, note=note,
        status=status, key=key, fingerprint=fingerprint, now=now,
    )
    # Each person's zone is their account's, as every read of a booking shows it (docs/booking.md).
    client = Person(requester.id, requester.display_name, requester.time_zone)
    practitioner_person = Person(practitioner.user_id, practitioner.display_name, snap.practitioner_account_time_zone)
    gist = Gist(new.id, offering.name, offering.mode, offering.address, new.start_at, new.end_at, client,
                practitioner_person)
    kind = "requested" if status is Status.REQUESTED else "created"
    created = await bookings.create(
        deps.db, new,
        body=events.body("created", events.created_state(new), role=Role.CLIENT, actor_id=requester.id, at=now),
        job=_timeline_of(new, now), notices=notices.for_change(kind, gist, Role.CLIENT), now=now, email=deps.email,
    )
    if created.outcome is Outcome.REPLAYED and created.booking_id is not None:
        # A concurrent retry won the race; answer with what it created.
        existing = await bookings.get_with_participants(deps.db, created.booking_id)
        if existing is not None:
            return existing, False
    if created.booking is None or created.written is None:
        raise _refusal(created)
    await live.publish(deps.bus, created.written)
    return BookingDetail(created.booking, offering.name, offering.address, client, practitioner_person), True


async def reschedule(
    deps: Deps, actor: User, booking_id: uuid.UUID, *, start: datetime, key: str
) -> tuple[BookingDetail, bool]:
    """Move a booking to `start` in one step: the new booking is created (and its time claimed) and the old
    one cancelled and linked to it in the same transaction. Returns the new booking and whether it is new."""
    now = deps.clock.now()
    start = start.astimezone(UTC)  # as in `book`: the mover's offset goes no further
    current = await bookings.get_with_participants(deps.db, booking_id)
    if current is None or role_of(current, actor.id) is None:
        raise not_found("booking")
    old = current.booking
    fingerprint = request_hash("reschedule", booking_id, start.isoformat())
    snap = await _snapshot_around(
        deps, start, practitioner_id=old.practitioner_id, offering_id=old.offering_id, requested_by=actor.id, key=key
    )
    if snap is None or snap.offering is None:
        raise not_found("booking")
    if (earlier := await _replayed(deps, snap, fingerprint)) is not None:
        return earlier, False
    offering = snap.offering
    if (refusal := finder(snap, offering, now).check(start)) is not None:
        raise slot_unavailable(refusal.value)
    try:
        async with bookings.locked(deps.db, booking_id, "bookings.reschedule") as held:
            assert held.detail is not None
            locked_old = held.booking
            role = role_of(held.detail, actor.id)
            assert role is not None
            decide(Status(locked_old.status), Action.RESCHEDULE, role, now=now, start=locked_old.start_at,
                   end=locked_old.end_at)
            status = Status.REQUESTED if offering.needs_approval and role is Role.CLIENT else Status.CONFIRMED
            new = _new_booking(
                snap, offering, client_id=locked_old.client_id, requested_by=actor.id, role=role, start=start,
                note=locked_old.note, status=status, key=key, fingerprint=fingerprint, now=now,
            )
            gist = Gist(new.id, held.detail.offering_name, new.mode, held.detail.address, new.start_at, new.end_at,
                        held.detail.client, held.detail.practitioner)
            created = await bookings.create_replacement(
                held, new,
                body=events.body("created", events.created_state(new, rescheduled_from=locked_old.id), role=role,
                                 actor_id=actor.id, at=now),
                job=_timeline_of(new, now),
                notices=notices.for_change("rescheduled", gist, role, previous_start_at=events.iso(locked_old.start_at)),
                now=now, email=deps.email,
            )
            if created.outcome is Outcome.REPLAYED and created.booking_id is not None:
                raise _Replayed(created.booking_id)
            if created.booking is None or created.written is None:
                raise _refusal(created)
            late = is_late_cancellation(now, locked_old.start_at, timedelta(minutes=locked_old.late_cancel_min))
            state = events.booking_state(
                locked_old, status=Status.CANCELLED.value, rescheduled_to=str(new.id), cancelled_by_role=role.value,
                cancelled_late=late,
            )
            released = await bookings.apply(
                held, Change("rescheduled", Status.CANCELLED.value, actor.id, role.value, cancelled_late=late,
                             rescheduled_to=new.id),
                body=events.body("rescheduled", state, role=role, actor_id=actor.id, at=now), jobs=[], notices=[],
                now=now, email=deps.email,
            )
    except _Replayed as race:
        existing = await bookings.get_with_participants(deps.db, race.booking_id)
        if existing is None:
            raise not_found("booking") from None
        return existing, False
    await live.publish(deps.bus, created.written)
    await live.publish(deps.bus, released)
    return BookingDetail(created.booking, held.detail.offering_name, held.detail.address, held.detail.client,
                         held.detail.practitioner), True


async def act(
    deps: Deps, booking_id: uuid.UUID, action: Action, *, actor: User | None, reason: str | None = None
) -> BookingDetail:
    """Apply `action` for `actor` (None: the system) if the state machine allows it; returns the booking after."""
    now = deps.clock.now()
    async with bookings.locked(deps.db, booking_id, f"bookings.{action.value}") as held:
        detail = held.detail
        role = Role.SYSTEM if actor is None else (None if detail is None else role_of(detail, actor.id))
        if detail is None or role is None:
            raise not_found("booking")
        b = detail.booking
        rule = decide(Status(b.status), action, role, now=now, start=b.start_at, end=b.end_at)
        kind = _KIND[action]
        late = None
        if rule.to is Status.CANCELLED:
            late = is_late_cancellation(now, b.start_at, timedelta(minutes=b.late_cancel_min))
        state = events.booking_state(
            b, status=rule.to.value, **({"cancelled_by_role": role.value, "cancelled_late": late} if late is not None else {})
        )
        actor_id = None if actor is None else actor.id
        written = await bookings.apply(
            held, Change(kind, rule.to.value, actor_id, role.value, cancelled_late=late, reason=reason),
            body=events.body(kind, state, role=role, actor_id=actor_id, at=now),
            jobs=[timeline.confirmed(b.id, b.start_at, b.end_at, now)] if action is Action.CONFIRM else [],
            notices=notices.for_change(kind, Gist.of(detail), role), now=now, email=deps.email,
        )
    await live.publish(deps.bus, written)
    after = await bookings.get_with_participants(deps.db, booking_id)
    if after is None:
        raise not_found("booking")
    return after
