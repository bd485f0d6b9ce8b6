"""Who may review what, when, and who may answer or moderate: the rules, apart from the SQL (storage/reviews.py).

A review belongs to a booking: only its client, only once it is completed,
only within the review window after its end, and once. The practitioner
replies once. Anyone signed in may report a review; an admin hides it (with a
reason, which takes it out of every listing and the rating) or keeps it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from storage import reviews
from storage.database import Database
from storage.errors import NotFound, Refusal
from storage.reviews import Review


class ReviewRefused(Refusal):
    status = 409


async def write(
    db: Database, booking_id: uuid.UUID, client_id: uuid.UUID, *, rating: int, body: str, now: datetime,
    window: timedelta,
) -> Review:
    """The client's review of their completed booking."""
    b = await reviews.reviewable(db, booking_id)
    if b is None or b.client_id != client_id:
        raise NotFound("booking")
    if b.status != "completed":
        raise ReviewRefused("Only a completed session can be reviewed.", code="not_completed", details=[{"status": b.status}])
    if now > b.end_at + window:
        raise ReviewRefused(
            f"Reviews are open for {window.days} days after the session.", code="review_period_over",
            details=[{"closed_at": (b.end_at + window).isoformat()}],
        )
    return await reviews.create(db, b, rating=rating, body=body)


async def reply(db: Database, review_id: uuid.UUID, practitioner_id: uuid.UUID, text: str) -> Review:
    """The practitioner's one reply to a visible review of them."""
    found = await reviews.get(db, review_id)
    if found is None or found.practitioner_id != practitioner_id or found.hidden_at is not None:
        raise NotFound("review")
    answered = await reviews.reply(db, review_id, practitioner_id, text)
    if answered is None:
        raise ReviewRefused("You have already replied to this review.", code="already_replied")
    return answered


async def report(db: Database, review_id: uuid.UUID, reporter_id: uuid.UUID, reason: str) -> None:
    found = await reviews.get(db, review_id)
    if found is None or found.hidden_at is not None:
        raise NotFound("review")
    if not await reviews.report(db, review_id, reporter_id, reason):
        raise ReviewRefused("You have already reported this review.", code="already_reported")
