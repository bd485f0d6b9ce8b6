"""Reviews of completed bookings, the practitioner's reply, abuse reports and moderation, and the rating aggregate.

The aggregate (`practitioner_search.rating_count`, `rating_sum`) moves by an
increment in the transaction that writes or hides a review; the UPDATE takes
the row's lock, so concurrent reviews of one practitioner, from any number of
processes, are counted one after the other and none is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .accounts import names
from .database import Database
from .errors import Duplicate


@dataclass(frozen=True, slots=True)
class Reviewable:
    """What deciding whether a booking may be reviewed needs."""

    booking_id: uuid.UUID
    practitioner_id: uuid.UUID
    client_id: uuid.UUID
    status: str
    end_at: datetime


@dataclass(frozen=True, slots=True)
class Review:
    id: uuid.UUID
    booking_id: uuid.UUID
    practitioner_id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    rating: int
    body: str
    reply: str | None
    replied_at: datetime | None
    hidden_at: datetime | None
    hidden_reason: str | None
    created_at: datetime


class AlreadyReviewed(Duplicate):
    status, code, default_message = 409, "already_reviewed", "This booking has already been reviewed."


_COLUMNS = (
    "r.id, r.booking_id, r.practitioner_id, r.client_id, u.display_name AS client_name, "
    "u.name_sealed AS client_name_sealed, r.rating, r.body, r.reply, r.replied_at, r.hidden_at, r.hidden_reason, "
    "r.created_at"
)


async def _reviews(db: Database, rows: list[asyncpg.Record]) -> list[Review]:
    """Rows of `_COLUMNS` with each client's name opened (their key; "Deleted user" after erasure)."""
    shown = await names(db, [(r["client_id"], r["client_name"], r["client_name_sealed"]) for r in rows])
    return [Review(**{**{f: r[f] for f in Review.__dataclass_fields__}, "client_name": name})
            for r, name in zip(rows, shown, strict=True)]


async def _review(db: Database, row: asyncpg.Record) -> Review:
    return (await _reviews(db, [row]))[0]


async def reviewable(db: Database, booking_id: uuid.UUID) -> Reviewable | None:
    row = await db.fetchrow(
        "reviews.reviewable",
        "SELECT id, practitioner_id, client_id, status, end_at FROM bookings WHERE id = $1", booking_id,
    )
    return None if row is None else Reviewable(row["id"], row["practitioner_id"], row["client_id"], row["status"], row["end_at"])


async def create(db: Database, b: Reviewable, *, rating: int, body: str) -> Review:
    """Write the review and count it in the aggregate, in one transaction; a second one of the booking is refused."""
    async with db.transaction("reviews.create") as conn:
        row = await conn.fetchrow(
            f"""
            WITH r AS (
                INSERT INTO reviews (id, booking_id, practitioner_id, client_id, rating, body)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (booking_id) DO NOTHING RETURNING *
            )
            SELECT {_COLUMNS} FROM r JOIN users u ON u.id = r.client_id
            """,
            uuid.uuid4(), b.booking_id, b.practitioner_id, b.client_id, rating, body,
        )
        if row is None:
            raise AlreadyReviewed(None)
        await conn.execute(
            """UPDATE practitioner_search SET rating_count = rating_count + 1, rating_sum = rating_sum + $2
               WHERE practitioner_id = $1""",
            b.practitioner_id, rating,
        )
    return await _review(db, row)


async def get(db: Database, review_id: uuid.UUID) -> Review | None:
    row = await db.fetchrow(
        "reviews.get", f"SELECT {_COLUMNS} FROM reviews r JOIN users u ON u.id = r.client_id WHERE r.id = $1", review_id,
    )
    return None if row is None else await _review(db, row)


async def visible_of(
    db: Database, practitioner_id: uuid.UUID, *, limit: int, before: tuple[datetime, uuid.UUID] | None,
) -> list[Review]:
    """The practitioner's reviews that are not hidden, newest first, continuing before (created_at, id)."""
    rows = await db.fetch(
        "reviews.visible_of",
        f"""
        SELECT {_COLUMNS} FROM reviews r JOIN users u ON u.id = r.client_id
        WHERE r.practitioner_id = $1 AND r.hidden_at IS NULL
          AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2, $3::uuid))
        ORDER BY r.created_at DESC, r.id DESC LIMIT $4
        """,
        practitioner_id, None if before is None else before[0], None if before is None else before[1], limit,
    )
    return await _reviews(db, rows)


async def reply(db: Database, review_id: uuid.UUID, practitioner_id: uuid.UUID, text: str) -> Review | None:
    """Add the practitioner's one reply; None if the review is not theirs, hidden, or already answered."""
    row = await db.fetchrow(
        "reviews.reply",
        f"""
        WITH r AS (
            UPDATE reviews SET reply = $3, replied_at = now()
            WHERE id = $1 AND practitioner_id = $2 AND reply IS NULL AND hidden_at IS NULL RETURNING *
        )
        SELECT {_COLUMNS} FROM r JOIN users u ON u.id = r.client_id
        """,
        review_id, practitioner_id, text,
    )
    return None if row is None else await _review(db, row)


async def report(db: Database, review_id: uuid.UUID, reporter_id: uuid.UUID, reason: str) -> bool:
    """Report a visible review for moderation; False if this person already reported it."""
    tag = await db.execute(
        "reviews.report",
        """
        INSERT INTO review_reports (id, review_id, reporter_id, reason)
        SELECT $1, r.id, $3, $4 FROM reviews r WHERE r.id = $2 AND r.hidden_at IS NULL
        ON CONFLICT (review_id, reporter_id) DO NOTHING
        """,
        uuid.uuid4(), review_id, reporter_id, reason,
    )
    return tag.endswith(" 1")


@dataclass(frozen=True, slots=True)
class Reported:
    """A review in the moderation queue, with its open reports' reasons."""

    review: Review
    reasons: list[str]
    first_reported_at: datetime


async def queue(db: Database, *, limit: int) -> list[Reported]:
    """Reviews with open reports, the longest waiting first."""
    rows = await db.fetch(
        "reviews.queue",
        f"""
        SELECT {_COLUMNS}, q.reasons, q.first_at
        FROM (SELECT review_id, array_agg(reason ORDER BY created_at) AS reasons, min(created_at) AS first_at
              FROM review_reports WHERE resolved_at IS NULL GROUP BY review_id) q
        JOIN reviews r ON r.id = q.review_id JOIN users u ON u.id = r.client_id
        ORDER BY q.first_at, r.id LIMIT $1
        """,
        limit,
    )
    return [Reported(review, list(r["reasons"]), r["first_at"]) for r, review in zip(rows, await _reviews(db, rows))]


async def moderate(db: Database, review_id: uuid.UUID, admin_id: uuid.UUID, *, hide_reason: str | None) -> Review | None:
    """Resolve the review's open reports: hide it with `hide_reason` (taking it out of the aggregate), or keep it
    (hide_reason None). None if there is no such review."""
    async with db.transaction("reviews.moderate") as conn:
        if hide_reason is not None:
            hidden = await conn.fetchrow(
                """UPDATE reviews SET hidden_at = now(), hidden_by = $2, hidden_reason = $3
                   WHERE id = $1 AND hidden_at IS NULL RETURNING practitioner_id, rating""",
                review_id, admin_id, hide_reason,
            )
            if hidden is not None:
                await conn.execute(
                    """UPDATE practitioner_search SET rating_count = rating_count - 1, rating_sum = rating_sum - $2
                       WHERE practitioner_id = $1""",
                    hidden["practitioner_id"], hidden["rating"],
                )
        await conn.execute(
            "UPDATE review_reports SET resolved_at = now(), resolution = $2 WHERE review_id = $1 AND resolved_at IS NULL",
            review_id, "kept" if hide_reason is None else "hidden",
        )
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM reviews r JOIN users u ON u.id = r.client_id WHERE r.id = $1", review_id)
    return None if row is None else await _review(db, row)
