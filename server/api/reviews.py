"""Reviews: a client reviews a completed booking, the practitioner replies once, anyone reports abuse, and admins
moderate the reported ones. Rules in discovery/reviews.py; hidden reviews appear in no listing."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

from pydantic import Field

from discovery import reviews as rules
from storage import reviews
from storage.reviews import Review

from ..errors import NotFound, Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Instant, Line, Text
from .scheduling import existing_profile, scheduler

routes = RouteTable("reviews")


class ReviewIn(Input):
    rating: int = Field(ge=1, le=5)
    body: Text = Field("", max_length=4000)


class ReplyIn(Input):
    body: Text = Field(min_length=1, max_length=4000)


class ReportIn(Input):
    reason: Line = Field(min_length=1, max_length=500)


class HideIn(Input):
    reason: Line = Field(min_length=1, max_length=500, description="Why it is hidden; kept for the record.")


class ReviewOut(Output):
    id: uuid.UUID
    booking_id: uuid.UUID
    practitioner_id: uuid.UUID
    client_name: str
    rating: int
    body: str
    reply: str | None
    replied_at: Instant | None
    created_at: Instant


class ModeratedOut(ReviewOut):
    hidden: bool
    hidden_reason: str | None


class ReviewPage(Output):
    items: list[ReviewOut]
    next_cursor: str | None


class ReviewsQuery(QueryInput):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class Reported(Output):
    review: ModeratedOut
    reasons: list[str]
    first_reported_at: Instant


class Queue(Output):
    items: list[Reported]


class QueueQuery(QueryInput):
    limit: int = Field(50, ge=1, le=200)


def review_out(r: Review) -> ReviewOut:
    return ReviewOut(
        id=r.id, booking_id=r.booking_id, practitioner_id=r.practitioner_id, client_name=r.client_name,
        rating=r.rating, body=r.body, reply=r.reply, replied_at=r.replied_at, created_at=r.created_at,
    )


def _moderated(r: Review) -> ModeratedOut:
    return ModeratedOut(**review_out(r).model_dump(), hidden=r.hidden_at is not None, hidden_reason=r.hidden_reason)


@routes.post("/bookings/{booking_id}/review", body=ReviewIn, response=ReviewOut, status=201, roles=("client",),
             errors=(403, 404, 409, 422))
async def write_review(call: Call[ReviewIn]) -> ReviewOut:
    """Review your completed session: once per booking, within KLEAR_REVIEW_WINDOW_DAYS of its end."""
    written = await rules.write(
        call.runtime.db, call.uuid("booking_id"), call.principal.user_id, rating=call.body.rating, body=call.body.body,
        now=scheduler(call).deps.clock.now(), window=timedelta(days=call.runtime.settings.discovery.review_window_days),
    )
    return review_out(written)


def review_cursor(r: Review) -> str:
    return base64.urlsafe_b64encode(f"{r.created_at.isoformat()}|{r.id}".encode()).decode()


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        at, rid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        parsed = datetime.fromisoformat(at), uuid.UUID(rid)
    except ValueError:
        parsed = None
    if parsed is None or parsed[0].tzinfo is None:
        raise Unprocessable("The cursor is not one this listing returned.", code="invalid_cursor", details=[
            {"loc": ["query", "cursor"], "message": "not a cursor of this listing", "type": "invalid_cursor"}])
    return parsed


@routes.get("/practitioners/{practitioner_id}/reviews", query=ReviewsQuery, response=ReviewPage, errors=(404, 422))
async def list_reviews(call: Call[None]) -> ReviewPage:
    """A practitioner's visible reviews, newest first."""
    practitioner_id = call.uuid("practitioner_id")
    await existing_profile(call, practitioner_id)
    q: ReviewsQuery = call.query
    found = await reviews.visible_of(call.runtime.db, practitioner_id, limit=q.limit + 1, before=_after(q.cursor))
    page = found[: q.limit]
    return ReviewPage(items=[review_out(r) for r in page], next_cursor=review_cursor(page[-1]) if len(found) > q.limit else None)


@routes.post("/reviews/{review_id}/reply", body=ReplyIn, response=ReviewOut, roles=("practitioner",),
             errors=(403, 404, 409, 422))
async def reply(call: Call[ReplyIn]) -> ReviewOut:
    """Answer a review of you, once."""
    return review_out(await rules.reply(call.runtime.db, call.uuid("review_id"), call.principal.user_id, call.body.body))


@routes.post("/reviews/{review_id}/reports", body=ReportIn, status=202, errors=(404, 409, 422))
async def report(call: Call[ReportIn]) -> None:
    """Report a review as abusive; it goes to the admins' moderation queue."""
    await rules.report(call.runtime.db, call.uuid("review_id"), call.principal.user_id, call.body.reason)


@routes.get("/admin/reviews/reported", query=QueueQuery, response=Queue, roles=("admin",), errors=(422,))
async def moderation_queue(call: Call[None]) -> Queue:
    """Admin: reviews with open abuse reports, the longest waiting first."""
    found = await reviews.queue(call.runtime.db, limit=call.query.limit)
    return Queue(items=[Reported(review=_moderated(r.review), reasons=r.reasons, first_reported_at=r.first_reported_at)
                        for r in found])


@routes.post("/admin/reviews/{review_id}/hide", body=HideIn, response=ModeratedOut, roles=("admin",), errors=(404, 422))
async def hide(call: Call[HideIn]) -> ModeratedOut:
    """Admin: hide a review with a reason; it leaves every listing and the rating, and its reports are resolved."""
    return await _moderate(call, call.body.reason)


@routes.post("/admin/reviews/{review_id}/keep", response=ModeratedOut, roles=("admin",), errors=(404,))
async def keep(call: Call[None]) -> ModeratedOut:
    """Admin: keep a reported review; its open reports are resolved."""
    return await _moderate(call, None)


async def _moderate(call: Call[object], reason: str | None) -> ModeratedOut:
    done = await reviews.moderate(call.runtime.db, call.uuid("review_id"), call.principal.user_id, hide_reason=reason)
    if done is None:
        raise NotFound("No review with that id.")
    return _moderated(done)
