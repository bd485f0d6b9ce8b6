"""Webhook subscriptions: a person's own, or an app's (its owner sets them up), with the delivery log and redelivery.

Delivery itself is the scheduler's (scheduler/webhooks.py); the URL checks
against SSRF are in scheduler/webhook_http.py, used here at subscription time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from scheduler.webhook_http import RefusedUrl, check_url, new_secret
from storage import apps, webhooks
from storage.webhooks import Delivery, Subscription

from ..appkeys import SCHEDULER
from ..errors import ApiError, NotFound
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Instant, Line

routes = RouteTable("webhooks")
EventType = Literal[
    "booking.created", "booking.confirmed", "booking.declined", "booking.expired", "booking.cancelled",
    "booking.rescheduled", "booking.started", "booking.completed", "booking.no_show", "availability.changed",
    "message.created",
]


class WebhookIn(Input):
    url: Annotated[Line, StringConstraints(max_length=2000)] = Field(
        description="https to a public address (checked now and at every delivery).")
    events: list[EventType] = Field(min_length=1, max_length=20)
    app_id: uuid.UUID | None = Field(
        None, description="An app of yours: the events of everyone who authorised it (bookings:read for booking "
                          "events, availability:read for availability, messages:read for messages). Omit: your own.")


class WebhookOut(Output):
    id: uuid.UUID
    url: str
    events: list[str]
    app_id: uuid.UUID | None
    created_at: Instant
    disabled_at: Instant | None = Field(description="Set when deliveries kept failing; enable it again to resume.")
    disabled_reason: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_...: verifies the webhook-signature header. Shown this once.")


class WebhookList(Output):
    items: list[WebhookOut]


class AttemptOut(Output):
    attempt: int
    at: Instant
    status: int | None = Field(description="The receiver's HTTP status; null if it gave none.")
    latency_ms: int
    error: str | None = Field(description="http_status, timeout, connection or refused_address.")
    excerpt: str | None = Field(description="The first 500 characters of the receiver's answer.")


class DeliveryOut(Output):
    id: uuid.UUID = Field(description="The webhook-id header, the same on every attempt.")
    type: str
    booking_id: uuid.UUID | None
    booking_seq: int | None
    state: Literal["pending", "delivered", "failed", "skipped"]
    created_at: Instant
    finished_at: Instant | None
    attempts: list[AttemptOut]


class DeliveryLog(Output):
    items: list[DeliveryOut]
    next_before: datetime | None


class LogQuery(QueryInput):
    limit: int = Field(50, ge=1, le=200)
    before: Instant | None = None


def _out(s: Subscription) -> WebhookOut:
    return WebhookOut.model_validate(s)


class UnsafeUrl(ApiError):
    status, code = 422, "webhook_url_refused"


@routes.post("/webhooks", body=WebhookIn, response=WebhookCreated, status=201, errors=(404, 422))
async def subscribe(call: Call[WebhookIn]) -> WebhookCreated:
    """Subscribe a URL to events; the signing secret is shown once."""
    rt, body, me = call.runtime, call.body, call.principal.user_id
    if body.app_id is not None:
        app = await apps.get_app(rt.db, body.app_id)
        if app is None or app.owner_id != me:
            raise NotFound("No app of yours with that id.")
    try:
        await check_url(body.url, allow_loopback=rt.settings.scheduler.webhook_allow_loopback)
    except RefusedUrl as exc:
        raise UnsafeUrl(f"This URL cannot receive webhooks: {exc.reason}.", details=[{"loc": ["body", "url"]}]) from None
    secret = new_secret()
    made = await webhooks.subscribe(rt.db, owner_id=me, app_id=body.app_id, url=body.url,
                                    events=list(dict.fromkeys(body.events)), secret=secret)
    return WebhookCreated(**_out(made).model_dump(), secret=secret)


@routes.get("/webhooks", response=WebhookList)
async def list_webhooks(call: Call[None]) -> WebhookList:
    """Your webhook subscriptions (and your apps')."""
    return WebhookList(items=[_out(s) for s in await webhooks.subscriptions_of(call.runtime.db, call.principal.user_id)])


async def _own(call: Call[None]) -> Subscription:
    found = await webhooks.get(call.runtime.db, call.principal.user_id, call.uuid("webhook_id"))
    if found is None:
        raise NotFound("No webhook subscription of yours with that id.")
    return found


@routes.delete("/webhooks/{webhook_id}", status=204, errors=(404,))
async def unsubscribe(call: Call[None]) -> None:
    """Stop a subscription; what is still pending for it is not sent."""
    if not await webhooks.delete(call.runtime.db, call.principal.user_id, call.uuid("webhook_id")):
        raise NotFound("No webhook subscription of yours with that id.")


@routes.post("/webhooks/{webhook_id}/enable", response=WebhookOut, errors=(404,))
async def enable(call: Call[None]) -> WebhookOut:
    """Enable a subscription disabled after failing deliveries; new events go out again."""
    found = await webhooks.enable(call.runtime.db, call.principal.user_id, call.uuid("webhook_id"))
    if found is None:
        raise NotFound("No webhook subscription of yours with that id.")
    return _out(found)


def _delivery(d: Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(d)


@routes.get("/webhooks/{webhook_id}/deliveries", query=LogQuery, response=DeliveryLog, errors=(404, 422))
async def delivery_log(call: Call[None]) -> DeliveryLog:
    """The delivery log, newest first: each delivery's state and every attempt's status, latency and answer."""
    sub, q = await _own(call), call.query
    found = await webhooks.deliveries(call.runtime.db, sub.id, limit=q.limit, before=q.before)
    return DeliveryLog(items=[_delivery(d) for d in found],
                       next_before=found[-1].created_at if len(found) == q.limit else None)


@routes.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status=202, errors=(404,))
async def redeliver(call: Call[None]) -> None:
    """Send a delivery once more (same webhook-id), whatever became of it."""
    sub = await _own(call)
    now = call.request.app[SCHEDULER].deps.clock.now()
    if not await webhooks.redeliver(call.runtime.db, sub.id, call.uuid("delivery_id"), now):
        raise NotFound("No delivery of this subscription with that id.")
