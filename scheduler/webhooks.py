"""The webhook delivery job: send one delivery, log the attempt, retry on a schedule, give up and tell the owner.

Deliveries are written with the change they report (storage/webhooks.py); the
job `webhook.deliver` sends one. It is at-least-once like every job: a
receiver may see a delivery twice (the same `webhook-id`) after a crash, and
must deduplicate on that id. Retries follow `retry_delays`: exponential, four
times longer each time and at most a day apart, over more than three days with
the defaults; after the last attempt the delivery fails, the subscription is
disabled, and its owner gets an in-app notification. A manual redelivery is
one extra attempt, out of turn, that changes nothing else.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from storage import webhooks
from storage.jobs import Job
from storage.notifications import NewNotice

from . import live
from .bookings import Deps
from .webhook_http import WebhookSender
from .worker import Handler, Next

log = logging.getLogger(__name__)
DISABLED_NOTICE = "webhook_disabled"


def retry_delays(base: float, attempts: int) -> list[float]:
    """Seconds to wait after each failed attempt but the last: base, 4x base, 16x base, ... at most 17,280x
    base (a day for the default 5 s)."""
    return [min(base * 4.0**k, base * 17_280) for k in range(attempts - 1)]


def handler(deps: Deps, sender: WebhookSender, *, retry_base: float, attempts: int) -> Handler:
    delays = retry_delays(retry_base, attempts)

    async def deliver(job: Job) -> str | Next:
        delivery_id = uuid.UUID(job.payload["delivery_id"])
        manual = bool(job.payload.get("manual"))
        out = await webhooks.outgoing(deps.db, delivery_id)
        if out is None:
            return "skipped_gone"
        if not manual and out.state != "pending":
            return f"already_{out.state}"
        if not manual and not out.live:
            await webhooks.attempted(deps.db, out.id, settle="skipped", now=deps.clock.now(), record=False)
            return "skipped_disabled"
        answer = await sender.send(out.url, out.secret, str(out.id), out.payload)
        settle = "delivered" if answer.ok and out.state == "pending" else None
        attempt = await webhooks.attempted(
            deps.db, out.id, settle=settle, now=deps.clock.now(), status=answer.status, latency_ms=answer.latency_ms,
            error=answer.error, excerpt=answer.excerpt,
        )
        if answer.ok:
            return "delivered"
        log.info("webhook attempt failed", extra={
            "event": "webhook_failed", "delivery_id": str(out.id), "attempt": attempt, "reason": answer.error})
        if manual:
            return "redelivery_failed"
        tries = int(job.payload.get("try", 0))
        if tries < len(delays):
            run_at = deps.clock.now() + timedelta(seconds=delays[tries])
            return Next("retry", run_at, {"delivery_id": str(out.id), "try": tries + 1})
        notice = NewNotice(out.owner_id, DISABLED_NOTICE, "update", None,
                           {"subscription_id": str(out.subscription_id), "delivery_id": str(out.id)},
                           dedupe_key=f"webhook_disabled:{out.subscription_id}:{out.id}")
        written = await webhooks.give_up(deps.db, out, notice, now=deps.clock.now())
        await live.publish_notices(deps.bus, written)
        log.warning("webhook subscription disabled", extra={
            "event": "webhook_disabled", "subscription_id": str(out.subscription_id)})
        return "failed"

    return deliver
