"""Bookings: creation without double booking, locked status changes, reads, and the event streams.

Writes go through the SQL functions `booking_create` and `booking_apply`
(storage/functions/), one statement each, so the practitioner lock is held
for a single round trip; creating a booking is that one statement in
autocommit, conversation included. Each write returns a `Written`: what the
caller publishes on the bus once the transaction commits.

Event streams for recovery after a reconnect:
- `booking_events_since(db, booking_id, after_seq, limit)`: one booking's changes;
- `feed_events_since(db, user_id, after_seq, limit)`: every change to any of a user's bookings.
Both return the same event body that was published live.

Personal fields are sealed with their author's data key, so an erasure leaves
none of them readable: the note with the client's (who writes it), a
cancellation reason with the key of whoever cancelled (`cancelled_by`; the
client's if the system cancelled, which gives no reason), a decline reason
with the practitioner's (only they decline). The client's name is sealed with
their key too (`storage.accounts`); a practitioner's is public. Reading a
list loads every key it needs in one query, none once cached; `locked` loads
both participants' keys on its own connection, so what follows under the lock
(a reason, the notices) finds them cached.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .accounts import needs_key, shown_name
from .database import Database
from .functions import call
from .jobs import NewJob, jobs_arg
from .keyring import Sealers
from .notifications import NewNotice, Notice, Prepared, from_sent, from_written, prepare

NOTE = "bookings.note"
CANCEL_REASON = "bookings.cancel_reason"
DECLINE_REASON = "bookings.decline_reason"


@dataclass(frozen=True, slots=True)
class Booking:
    id: uuid.UUID
    practitioner_id: uuid.UUID
    client_id: uuid.UUID
    offering_id: uuid.UUID
    conversation_id: uuid.UUID
    status: str
    mode: str
    start_at: datetime
    end_at: datetime
    blocked_from: datetime
    blocked_to: datetime
    price_minor: int
    currency: str
    late_cancel_min: int
    seq: int
    requested_by: uuid.UUID
    expires_at: datetime | None
    rescheduled_from: uuid.UUID | None
    rescheduled_to: uuid.UUID | None
    cancelled_by: uuid.UUID | None
    cancelled_by_role: str | None
    cancelled_at: datetime | None
    cancelled_late: bool | None
    created_at: datetime
    updated_at: datetime
    note: str | None
    cancel_reason: str | None
    decline_reason: str | None

    @property
    def participants(self) -> tuple[uuid.UUID, uuid.UUID]:
        return (self.client_id, self.practitioner_id)


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    display_name: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class BookingDetail:
    """A booking with what is shown next to it: the offering's name and address, and both people."""

    booking: Booking
    offering_name: str
    address: str | None
    client: Person
    practitioner: Person


@dataclass(frozen=True, slots=True)
class Written:
    """A committed change, to publish: the booking's seq, each participant's feed seq, the event, the notices."""

    booking_id: uuid.UUID
    booking_seq: int
    feed: dict[uuid.UUID, int]
    event: dict[str, Any]
    notices: list[Notice]


@dataclass(frozen=True, slots=True)
class BookingEvent:
    booking_id: uuid.UUID
    seq: int
    kind: str
    actor_id: uuid.UUID | None
    actor_role: str
    from_status: str | None
    to_status: str
    at: datetime
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FeedEvent:
    user_id: uuid.UUID
    seq: int
    booking_id: uuid.UUID
    booking_seq: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewBooking:
    """Everything `create` writes. `day_start`/`day_end` bound the practitioner's local day of the start;
    `capacity` is the offering's: how many bookings of it may share this start (a class)."""

    id: uuid.UUID
    practitioner_id: uuid.UUID
    client_id: uuid.UUID
    offering_id: uuid.UUID
    status: str
    mode: str
    start_at: datetime
    end_at: datetime
    blocked_from: datetime
    blocked_to: datetime
    day_start: datetime
    day_end: datetime
    max_per_day: int | None
    capacity: int
    price_minor: int
    currency: str
    late_cancel_min: int
    note: str | None
    requested_by: uuid.UUID
    actor_role: str
    idempotency_key: str
    request_hash: bytes
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Change:
    """A status change decided by the caller under the booking's lock."""

    kind: str
    to_status: str
    actor_id: uuid.UUID | None
    actor_role: str
    cancelled_late: bool | None = None
    reason: str | None = None
    rescheduled_to: uuid.UUID | None = None


class Outcome(enum.StrEnum):
    CREATED = "created"
    REPLAYED = "replayed"
    KEY_REUSED = "key_reused"
    TAKEN = "taken"
    CLASS_FULL = "class_full"
    DAY_FULL = "day_full"


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome; for CREATED the new booking and what to publish, for REPLAYED the earlier booking's id."""

    outcome: Outcome
    booking_id: uuid.UUID | None = None
    written: Written | None = None
    booking: Booking | None = None


class _NotCreated(Exception):
    """Raised when the function refused the booking (inside a reschedule's transaction, it rolls that back)."""

    def __init__(self, result: Created) -> None:
        self.result = result


_COLUMNS = """b.id, b.practitioner_id, b.client_id, b.offering_id, b.conversation_id, b.status, b.mode,
    b.start_at, b.end_at, b.blocked_from, b.blocked_to, b.price_minor, b.currency, b.late_cancel_min, b.seq,
    b.requested_by, b.expires_at, b.rescheduled_from, b.rescheduled_to, b.cancelled_by, b.cancelled_by_role,
    b.cancelled_at, b.cancelled_late, b.created_at, b.updated_at, b.note_sealed, b.cancel_reason_sealed,
    b.decline_reason_sealed"""
_DETAIL = f"""{_COLUMNS}, o.name AS offering_name, o.address,
    c.display_name AS c_name, c.name_sealed AS c_name_sealed, c.time_zone AS c_tz,
    pu.display_name AS p_name, pu.name_sealed AS p_name_sealed, pu.time_zone AS p_tz"""
_DETAIL_FROM = """bookings b JOIN offerings o ON o.id = b.offering_id
    JOIN users c ON c.id = b.client_id JOIN users pu ON pu.id = b.practitioner_id"""


def reason_author(status: str, client_id: uuid.UUID, practitioner_id: uuid.UUID,
                  cancelled_by: uuid.UUID | None) -> uuid.UUID:
    """Whose key seals the reason of a booking that went to `status` (cancelled or declined)."""
    if status == "declined":
        return practitioner_id
    return cancelled_by or client_id


def _owners(r: asyncpg.Record) -> list[uuid.UUID]:
    """The people whose keys open what row `r` holds sealed."""
    owners = [r["client_id"]] if r["note_sealed"] is not None else []
    if r["cancel_reason_sealed"] is not None:
        owners.append(reason_author("cancelled", r["client_id"], r["practitioner_id"], r["cancelled_by"]))
    if r["decline_reason_sealed"] is not None:
        owners.append(r["practitioner_id"])
    return owners


def _booking(keys: Sealers, r: asyncpg.Record) -> Booking:
    bid, client = r["id"], r["client_id"]
    canceller = reason_author("cancelled", client, r["practitioner_id"], r["cancelled_by"])
    return Booking(
        bid, r["practitioner_id"], client, r["offering_id"], r["conversation_id"], r["status"], r["mode"],
        r["start_at"], r["end_at"], r["blocked_from"], r["blocked_to"], r["price_minor"], r["currency"],
        r["late_cancel_min"], r["seq"], r["requested_by"], r["expires_at"], r["rescheduled_from"],
        r["rescheduled_to"], r["cancelled_by"], r["cancelled_by_role"], r["cancelled_at"], r["cancelled_late"],
        r["created_at"], r["updated_at"], keys.open_text(client, r["note_sealed"], f"{NOTE}:{bid}"),
        keys.open_text(canceller, r["cancel_reason_sealed"], f"{CANCEL_REASON}:{bid}"),
        keys.open_text(r["practitioner_id"], r["decline_reason_sealed"], f"{DECLINE_REASON}:{bid}"),
    )


def _detail(keys: Sealers, r: asyncpg.Record) -> BookingDetail:
    return BookingDetail(
        _booking(keys, r), r["offering_name"], r["address"],
        Person(r["client_id"], shown_name(keys, r["client_id"], r["c_name"], r["c_name_sealed"]), r["c_tz"]),
        Person(r["practitioner_id"], shown_name(keys, r["practitioner_id"], r["p_name"], r["p_name_sealed"]),
               r["p_tz"]),
    )


async def _details(db: Database, rows: list[asyncpg.Record]) -> list[BookingDetail]:
    """Rows of `_DETAIL` opened, with every key they need loaded in one go."""
    keys = await db.keys.sealers_for(db, [
        o for r in rows
        for o in (*_owners(r), *needs_key(r["client_id"], r["c_name"]), *needs_key(r["practitioner_id"], r["p_name"]))
    ])
    return [_detail(keys, r) for r in rows]


def _feed(raw: dict[str, int] | None) -> dict[uuid.UUID, int]:
    return {uuid.UUID(k): int(v) for k, v in (raw or {}).items()}


async def _sealed_note(db: Database, new: NewBooking) -> bytes | None:
    """The client's note sealed with the client's key (fetched before any transaction: it may be made now)."""
    if new.note is None:
        return None
    return (await db.keys.sealer_for(db, new.client_id)).seal_text(new.note, f"{NOTE}:{new.id}")


async def _create_in(
    conn: asyncpg.Connection, new: NewBooking, *, note: bytes | None, conversation_id: uuid.UUID,
    replaces: uuid.UUID | None, body: dict[str, Any], job: NewJob, sent: Prepared, now: datetime, email: bool,
) -> Created:
    body = {**body, "booking": {**body["booking"], "conversation_id": str(conversation_id)}}
    try:
        row = await conn.fetchrow(*call(
            "booking_create", p_id=new.id, p_practitioner_id=new.practitioner_id, p_client_id=new.client_id,
            p_offering_id=new.offering_id, p_conversation_id=conversation_id, p_status=new.status, p_mode=new.mode,
            p_start=new.start_at, p_end=new.end_at, p_blocked_from=new.blocked_from, p_blocked_to=new.blocked_to,
            p_day_start=new.day_start, p_day_end=new.day_end, p_max_per_day=new.max_per_day,
            p_capacity=new.capacity, p_price_minor=new.price_minor, p_currency=new.currency,
            p_late_cancel_min=new.late_cancel_min, p_note_sealed=note, p_requested_by=new.requested_by,
            p_actor_role=new.actor_role, p_idempotency_key=new.idempotency_key, p_request_hash=new.request_hash,
            p_expires_at=new.expires_at, p_replaces=replaces, p_body=body, p_job_kind=job.kind,
            p_job_payload=job.payload, p_job_run_at=job.run_at, p_notices=sent.arg, p_now=now, p_email=email,
        ))
    except asyncpg.UniqueViolationError as exc:
        # Two requests with one key for different practitioners raced past each other's locks.
        if exc.constraint_name != "bookings_idempotency":
            raise
        raise _NotCreated(Created(Outcome.KEY_REUSED)) from None
    assert row is not None
    outcome = Outcome(row["outcome"])
    if outcome is not Outcome.CREATED:
        raise _NotCreated(Created(outcome, row["existing_id"]))
    written = Written(new.id, 1, _feed(row["feed"]), {**body, "booking_seq": 1}, from_sent(sent, row["created_at"]))
    booking = Booking(
        new.id, new.practitioner_id, new.client_id, new.offering_id, conversation_id, new.status, new.mode,
        new.start_at, new.end_at, new.blocked_from, new.blocked_to, new.price_minor, new.currency,
        new.late_cancel_min, 1, new.requested_by, new.expires_at, replaces, None, None, None, None, None,
        row["created_at"], row["created_at"], new.note, None, None,
    )
    return Created(outcome, new.id, written, booking)


async def create(
    db: Database, new: NewBooking, *, body: dict[str, Any], job: NewJob, notices: list[NewNotice],
    now: datetime, email: bool,
) -> Created:
    """Create a booking with its conversation, first event, jobs and notifications, if its time is free.

    One statement in autocommit: `booking_create` creates the conversation too
    (`body["booking"]["conversation_id"]` is filled in here with its new id).
    Emails of the notices are queued if `email` is configured. Anything but
    `Outcome.CREATED` leaves nothing behind.
    """
    note, sent = await _sealed_note(db, new), await prepare(db, notices)
    try:
        async with db.connection("bookings.create") as conn:
            return await _create_in(
                conn, new, note=note, conversation_id=uuid.uuid4(), replaces=None, body=body, job=job, sent=sent,
                now=now, email=email,
            )
    except _NotCreated as refused:
        return refused.result


@dataclass(slots=True)
class Locked:
    """A booking held under its row lock for the rest of the transaction; `detail` None if there is none."""

    conn: asyncpg.Connection
    db: Database
    detail: BookingDetail | None

    @property
    def booking(self) -> Booking:
        assert self.detail is not None, "no such booking"
        return self.detail.booking


@asynccontextmanager
async def locked(db: Database, booking_id: uuid.UUID, name: str) -> AsyncIterator[Locked]:
    """Open transaction `name` holding the booking's row lock.

    Leaving the block normally commits; an exception rolls back and propagates.
    """
    async with db.transaction(name) as conn:
        row = await conn.fetchrow(f"SELECT {_DETAIL} FROM {_DETAIL_FROM} WHERE b.id = $1 FOR UPDATE OF b", booking_id)
        if row is None:
            yield Locked(conn, db, None)
            return
        # Both participants' keys, loaded on this connection (never made inside a transaction): they open this
        # row and seal what the change writes (a reason, the notices to either of them).
        keys = await db.keys.sealers_for(db, [row["client_id"], row["practitioner_id"], *_owners(row)], conn=conn)
        yield Locked(conn, db, _detail(keys, row))


async def apply(
    held: Locked, change: Change, *, body: dict[str, Any], jobs: list[NewJob], notices: list[NewNotice],
    now: datetime, email: bool,
) -> Written:
    """Write a status change of the locked booking with its event, jobs and notifications."""
    booking = held.booking
    reason = None
    if change.reason is not None:
        purpose = CANCEL_REASON if change.to_status == "cancelled" else DECLINE_REASON
        author = reason_author(change.to_status, booking.client_id, booking.practitioner_id, change.actor_id)
        sealer = (await held.db.keys.sealers_for(held.db, [author], conn=held.conn))[author]
        reason = sealer.seal_text(change.reason, f"{purpose}:{booking.id}")
    sent = await prepare(held.db, notices)  # to the participants, whose keys `locked` loaded
    row = await held.conn.fetchrow(*call(
        "booking_apply", p_id=booking.id, p_kind=change.kind, p_from=booking.status, p_to=change.to_status,
        p_actor_id=change.actor_id, p_actor_role=change.actor_role, p_cancelled_late=change.cancelled_late,
        p_reason_sealed=reason, p_rescheduled_to=change.rescheduled_to, p_body=body, p_jobs=jobs_arg(jobs),
        p_notices=sent.arg, p_now=now, p_email=email,
    ))
    assert row is not None
    seq = int(row["seq"])
    notified = from_written(sent, row["notices"])
    return Written(booking.id, seq, _feed(row["feed"]), {**body, "booking_seq": seq}, notified)


async def create_replacement(
    held: Locked, new: NewBooking, *, body: dict[str, Any], job: NewJob, notices: list[NewNotice],
    now: datetime, email: bool,
) -> Created:
    """Create the booking that replaces the locked one (a reschedule), in the same transaction and conversation.

    The locked booking is left out of the overlap check, so the new time may overlap the old one.
    If the result is not `Outcome.CREATED` the caller must let the transaction roll back.
    """
    old = held.booking
    note, sent = await _sealed_note(held.db, new), await prepare(held.db, notices)  # keys `locked` loaded
    try:
        return await _create_in(
            held.conn, new, note=note, conversation_id=old.conversation_id, replaces=old.id, body=body, job=job,
            sent=sent, now=now, email=email,
        )
    except _NotCreated as refused:
        return refused.result


async def get(db: Database, booking_id: uuid.UUID) -> Booking | None:
    row = await db.fetchrow("bookings.get", f"SELECT {_COLUMNS} FROM bookings b WHERE b.id = $1", booking_id)
    return None if row is None else _booking(await db.keys.sealers_for(db, _owners(row)), row)


async def get_with_participants(db: Database, booking_id: uuid.UUID) -> BookingDetail | None:
    """The booking with its offering's name and address and both participants (mode, start and end included)."""
    row = await db.fetchrow(
        "bookings.get_with_participants", f"SELECT {_DETAIL} FROM {_DETAIL_FROM} WHERE b.id = $1", booking_id
    )
    return None if row is None else (await _details(db, [row]))[0]


async def list_for_user(
    db: Database, user_id: uuid.UUID, *, statuses: list[str] | None, start_from: datetime | None,
    start_to: datetime | None, limit: int, after: tuple[datetime, uuid.UUID] | None,
) -> list[BookingDetail]:
    """The user's bookings (as client or practitioner) by start time, after the (start_at, id) cursor `after`."""
    rows = await db.fetch(
        "bookings.list_for_user",
        f"""
        SELECT {_DETAIL} FROM {_DETAIL_FROM}
        WHERE (b.client_id = $1 OR b.practitioner_id = $1)
          AND ($2::text[] IS NULL OR b.status = ANY ($2::text[]))
          AND ($3::timestamptz IS NULL OR b.start_at >= $3)
          AND ($4::timestamptz IS NULL OR b.start_at < $4)
          AND ($5::timestamptz IS NULL OR (b.start_at, b.id) > ($5, $6::uuid))
        ORDER BY b.start_at, b.id LIMIT $7
        """,
        user_id, statuses, start_from, start_to, after[0] if after else None, after[1] if after else None, limit,
    )
    return await _details(db, rows)


async def is_participant(db: Database, booking_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether `user_id` is the client or the practitioner of the booking."""
    row = await db.fetchrow(
        "bookings.is_participant",
        "SELECT 1 FROM bookings WHERE id = $1 AND (client_id = $2 OR practitioner_id = $2)", booking_id, user_id,
    )
    return row is not None


async def booking_events_since(db: Database, booking_id: uuid.UUID, after_seq: int, limit: int) -> list[BookingEvent]:
    """The booking's events with seq > `after_seq`, in order (also its history)."""
    rows = await db.fetch(
        "bookings.booking_events_since",
        """SELECT booking_id, seq, kind, actor_id, actor_role, from_status, to_status, at, body FROM booking_events
           WHERE booking_id = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
        booking_id, after_seq, limit,
    )
    return [BookingEvent(*r) for r in rows]


async def feed_events_since(db: Database, user_id: uuid.UUID, after_seq: int, limit: int) -> list[FeedEvent]:
    """The user's booking feed after `after_seq`, in order, each with the event body."""
    rows = await db.fetch(
        "bookings.feed_events_since",
        """SELECT f.user_id, f.seq, f.booking_id, f.booking_seq, e.body FROM booking_feed f
           JOIN booking_events e ON e.booking_id = f.booking_id AND e.seq = f.booking_seq
           WHERE f.user_id = $1 AND f.seq > $2 ORDER BY f.seq LIMIT $3""",
        user_id, after_seq, limit,
    )
    return [FeedEvent(*r) for r in rows]


async def feed_position(db: Database, user_id: uuid.UUID) -> int:
    """The user's latest feed seq (0 before their first booking)."""
    row = await db.fetchrow(
        "bookings.feed_position", "SELECT last_seq FROM booking_feed_counters WHERE user_id = $1", user_id
    )
    return 0 if row is None else int(row["last_seq"])


async def for_calendar(db: Database, user_id: uuid.UUID, since: datetime) -> list[BookingDetail]:
    """The user's bookings that end after `since`, for a calendar feed."""
    rows = await db.fetch(
        "bookings.for_calendar",
        f"""
        SELECT {_DETAIL} FROM {_DETAIL_FROM}
        WHERE (b.client_id = $1 OR b.practitioner_id = $1) AND b.start_at > $2::timestamptz - interval '1 day'
          AND b.end_at > $2
        ORDER BY b.start_at, b.id LIMIT 2000
        """,
        user_id, since,
    )
    return await _details(db, rows)


async def overlapping_pairs(db: Database) -> int:
    """Pairs of bookings of one practitioner that hold time and overlap (sessions plus buffers) without being
    in one class (same offering, same start): always 0."""
    row = await db.fetchrow(
        "bookings.overlapping_pairs",
        """
        SELECT count(*) AS n FROM bookings a JOIN bookings b
          ON a.practitioner_id = b.practitioner_id AND a.id < b.id
         AND a.blocked_from < b.blocked_to AND b.blocked_from < a.blocked_to
         AND NOT (a.offering_id = b.offering_id AND a.start_at = b.start_at)
        WHERE booking_holds_time(a.status) AND booking_holds_time(b.status)
        """,
    )
    return 0 if row is None else int(row["n"])
