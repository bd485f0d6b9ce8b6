"""Open hours (weekly rules and date overrides), time off, and the one-query snapshot slot finding reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from . import webhooks
from .database import Database, require
from .practitioners import (
    OFFERING_COLUMNS,
    PRACTITIONER_COLUMNS,
    Offering,
    Practitioner,
    offering_from,
    practitioner_from,
)


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    weekday: int  # ISO, 1 = Monday
    start_min: int
    end_min: int


@dataclass(frozen=True, slots=True)
class DateOverride:
    """Extra open hours on `day`, or (minutes None) a day off."""

    day: date
    start_min: int | None
    end_min: int | None


@dataclass(frozen=True, slots=True)
class TimeOff:
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class HeldTime:
    """A booking that holds time: its start, the span its session and buffers block, and its offering."""

    start_at: datetime
    blocked_from: datetime
    blocked_to: datetime
    offering_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Replay:
    """An earlier booking made with the same idempotency key."""

    booking_id: uuid.UUID
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What slot finding needs, read in one statement."""

    practitioner: Practitioner
    practitioner_account_time_zone: str  # their account's zone, not the zone of their hours
    offering: Offering | None
    rules: list[WeeklyRule]
    overrides: list[DateOverride]
    time_off: list[TimeOff]
    held: list[HeldTime]
    replay: Replay | None


async def snapshot(
    db: Database, *, practitioner_id: uuid.UUID | None, offering_id: uuid.UUID | None,
    first_day: date, last_day: date, span_from: datetime, span_to: datetime,
    with_held: bool, requested_by: uuid.UUID | None = None, idempotency_key: str | None = None,
) -> Snapshot | None:
    """The practitioner (given, or the one of `offering_id`), the offering if it is theirs, their rules,
    the overrides of local dates `first_day`..`last_day`, the time off and (if `with_held`) the bookings
    around [span_from, span_to) that hold time (by SQL `booking_holds_time`, which booking_create checks
    too), and an earlier booking by `requested_by` with `idempotency_key`. None if there is no such
    practitioner."""
    row = await db.fetchrow(
        "availability.snapshot",
        f"""
        SELECT {PRACTITIONER_COLUMNS}, u.time_zone AS account_time_zone,
          (SELECT ROW({OFFERING_COLUMNS}) FROM offerings o WHERE o.id = $2 AND o.practitioner_id = p.user_id) AS offering,
          ARRAY(SELECT ROW(r.weekday, r.start_min, r.end_min) FROM availability_rules r
                WHERE r.practitioner_id = p.user_id) AS rules,
          ARRAY(SELECT ROW(d.day, d.start_min, d.end_min) FROM availability_overrides d
                WHERE d.practitioner_id = p.user_id AND d.day BETWEEN $3 AND $4) AS overrides,
          ARRAY(SELECT ROW(t.id, t.starts_at, t.ends_at) FROM time_off t
                WHERE t.practitioner_id = p.user_id AND t.ends_at > $5 AND t.starts_at < $6) AS time_off,
          CASE WHEN $7 THEN ARRAY(
                SELECT ROW(b.start_at, b.blocked_from, b.blocked_to, b.offering_id) FROM bookings b
                WHERE b.practitioner_id = p.user_id AND booking_holds_time(b.status)
                  AND b.start_at >= $5::timestamptz - interval '1 day'
                  AND b.start_at < $6::timestamptz + interval '1 day') END AS held,
          (SELECT ROW(b.id, b.request_hash) FROM bookings b
           WHERE b.requested_by = $8 AND b.idempotency_key = $9) AS replay
        FROM practitioners p JOIN users u ON u.id = p.user_id
        WHERE p.user_id = coalesce($1, (SELECT o.practitioner_id FROM offerings o WHERE o.id = $2))
        """,
        practitioner_id, offering_id, first_day, last_day, span_from, span_to, with_held, requested_by,
        idempotency_key,
    )
    if row is None:
        return None
    return Snapshot(
        practitioner=practitioner_from(row),
        practitioner_account_time_zone=row["account_time_zone"],
        offering=None if row["offering"] is None else offering_from(row["offering"]),
        rules=[WeeklyRule(*r) for r in row["rules"]],
        overrides=[DateOverride(*d) for d in row["overrides"]],
        time_off=[TimeOff(*t) for t in row["time_off"]],
        held=[HeldTime(*h) for h in row["held"] or ()],
        replay=None if row["replay"] is None else Replay(*row["replay"]),
    )


async def replace_hours(
    db: Database, practitioner_id: uuid.UUID, rules: list[WeeklyRule], overrides: list[DateOverride]
) -> None:
    """Replace the weekly rules and date overrides in one transaction."""
    async with db.transaction("availability.replace_hours") as conn:
        await conn.execute("DELETE FROM availability_rules WHERE practitioner_id = $1", practitioner_id)
        await conn.execute("DELETE FROM availability_overrides WHERE practitioner_id = $1", practitioner_id)
        await conn.executemany(
            "INSERT INTO availability_rules (practitioner_id, weekday, start_min, end_min) VALUES ($1, $2, $3, $4)",
            [(practitioner_id, r.weekday, r.start_min, r.end_min) for r in rules],
        )
        await conn.executemany(
            "INSERT INTO availability_overrides (practitioner_id, day, start_min, end_min) VALUES ($1, $2, $3, $4)",
            [(practitioner_id, d.day, d.start_min, d.end_min) for d in overrides],
        )
        await webhooks.availability_changed(conn, practitioner_id, "hours")


async def hours(db: Database, practitioner_id: uuid.UUID) -> tuple[list[WeeklyRule], list[DateOverride]]:
    """The weekly rules and every date override, in order."""
    row = await db.fetchrow(
        "availability.hours",
        """
        SELECT ARRAY(SELECT ROW(weekday, start_min, end_min) FROM availability_rules
                     WHERE practitioner_id = $1 ORDER BY weekday, start_min) AS rules,
               ARRAY(SELECT ROW(day, start_min, end_min) FROM availability_overrides
                     WHERE practitioner_id = $1 ORDER BY day, start_min NULLS FIRST) AS overrides
        """,
        practitioner_id,
    )
    found = require(row, "hours")
    return [WeeklyRule(*r) for r in found["rules"]], [DateOverride(*d) for d in found["overrides"]]


async def add_time_off(db: Database, practitioner_id: uuid.UUID, starts_at: datetime, ends_at: datetime) -> TimeOff:
    """The time off as stored (in UTC), so the answer to adding it says what every later read says."""
    async with db.transaction("availability.add_time_off") as conn:
        row = await conn.fetchrow(
            """INSERT INTO time_off (id, practitioner_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)
               RETURNING id, starts_at, ends_at""",
            uuid.uuid4(), practitioner_id, starts_at, ends_at,
        )
        await webhooks.availability_changed(conn, practitioner_id, "time_off_added")
    found = require(row, "time off")
    return TimeOff(found["id"], found["starts_at"], found["ends_at"])


async def remove_time_off(db: Database, practitioner_id: uuid.UUID, time_off_id: uuid.UUID) -> bool:
    """False if the practitioner has no such time off."""
    async with db.transaction("availability.remove_time_off") as conn:
        tag = await conn.execute("DELETE FROM time_off WHERE id = $1 AND practitioner_id = $2", time_off_id, practitioner_id)
        removed = str(tag).endswith(" 1")
        if removed:
            await webhooks.availability_changed(conn, practitioner_id, "time_off_removed")
    return removed


async def time_off_after(db: Database, practitioner_id: uuid.UUID, after: datetime) -> list[TimeOff]:
    """Time off that has not ended by `after`, in order."""
    rows = await db.fetch(
        "availability.time_off_after",
        "SELECT id, starts_at, ends_at FROM time_off WHERE practitioner_id = $1 AND ends_at > $2 ORDER BY starts_at",
        practitioner_id, after,
    )
    return [TimeOff(r["id"], r["starts_at"], r["ends_at"]) for r in rows]


@dataclass(frozen=True, slots=True)
class Openings:
    """What finding a practitioner's soonest free slot needs: their snapshot and active offerings."""

    snapshot: Snapshot
    offerings: list[Offering]


async def openings_of_many(
    db: Database, practitioner_ids: list[uuid.UUID], *, first_day: date, last_day: date,
    span_from: datetime, span_to: datetime,
) -> dict[uuid.UUID, Openings]:
    """The snapshots (as `snapshot` reads them, held bookings included) of several practitioners with their
    active offerings, in one statement."""
    rows = await db.fetch(
        "availability.openings_of_many",
        f"""
        SELECT {PRACTITIONER_COLUMNS}, u.time_zone AS account_time_zone,
          ARRAY(SELECT ROW({OFFERING_COLUMNS}) FROM offerings o WHERE o.practitioner_id = p.user_id AND o.active)
            AS offerings,
          ARRAY(SELECT ROW(r.weekday, r.start_min, r.end_min) FROM availability_rules r
                WHERE r.practitioner_id = p.user_id) AS rules,
          ARRAY(SELECT ROW(d.day, d.start_min, d.end_min) FROM availability_overrides d
                WHERE d.practitioner_id = p.user_id AND d.day BETWEEN $2 AND $3) AS overrides,
          ARRAY(SELECT ROW(t.id, t.starts_at, t.ends_at) FROM time_off t
                WHERE t.practitioner_id = p.user_id AND t.ends_at > $4 AND t.starts_at < $5) AS time_off,
          ARRAY(SELECT ROW(b.start_at, b.blocked_from, b.blocked_to, b.offering_id) FROM bookings b
                WHERE b.practitioner_id = p.user_id AND booking_holds_time(b.status)
                  AND b.start_at >= $4::timestamptz - interval '1 day'
                  AND b.start_at < $5::timestamptz + interval '1 day') AS held
        FROM practitioners p JOIN users u ON u.id = p.user_id
        WHERE p.user_id = ANY ($1::uuid[])
        """,
        practitioner_ids, first_day, last_day, span_from, span_to,
    )
    return {
        r["user_id"]: Openings(
            Snapshot(
                practitioner=practitioner_from(r), practitioner_account_time_zone=r["account_time_zone"], offering=None,
                rules=[WeeklyRule(*x) for x in r["rules"]], overrides=[DateOverride(*x) for x in r["overrides"]],
                time_off=[TimeOff(*x) for x in r["time_off"]], held=[HeldTime(*x) for x in r["held"]], replay=None,
            ),
            [offering_from(o) for o in r["offerings"]],
        )
        for r in rows
    }
