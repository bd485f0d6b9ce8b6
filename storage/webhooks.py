"""Webhook subscriptions, their deliveries and the attempts at each (storage/migrations/0061_webhooks.sql).

Deliveries are written by `webhooks_enqueue` in the transaction of the change
they report. Deliveries of one booking to one subscription go out in
booking_seq order: settling one (delivered, or given up) queues the job of
the next (`webhook_attempted`, which says why none is left without a job).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .database import Database, require
from . import notifications
from .notifications import NewNotice, Notice

_SECRET = "webhook_subscriptions.secret"
DELIVER = "webhook.deliver"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: uuid.UUID
    owner_id: uuid.UUID
    app_id: uuid.UUID | None
    url: str
    events: list[str]
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


_SUB_COLUMNS = "s.id, s.owner_id, s.app_id, s.url, s.events, s.created_at, s.disabled_at, s.disabled_reason"


def _sub(row: asyncpg.Record) -> Subscription:
    return Subscription(row["id"], row["owner_id"], row["app_id"], row["url"], list(row["events"]), row["created_at"],
                        row["disabled_at"], row["disabled_reason"])


async def subscribe(
    db: Database, *, owner_id: uuid.UUID, app_id: uuid.UUID | None, url: str, events: list[str], secret: str
) -> Subscription:
    sub_id = uuid.uuid4()
    row = await db.fetchrow(
        "webhooks.subscribe",
        f"""
        INSERT INTO webhook_subscriptions AS s (id, owner_id, app_id, url, secret_sealed, events)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_SUB_COLUMNS}
        """,
        sub_id, owner_id, app_id, url, db.sealer.seal_text(secret, f"{_SECRET}:{sub_id}"), events,
    )
    return _sub(require(row, "subscription"))


async def subscriptions_of(db: Database, owner_id: uuid.UUID) -> list[Subscription]:
    rows = await db.fetch(
        "webhooks.subscriptions_of",
        f"SELECT {_SUB_COLUMNS} FROM webhook_subscriptions s WHERE s.owner_id = $1 AND s.deleted_at IS NULL "
        "ORDER BY s.created_at",
        owner_id,
    )
    return [_sub(r) for r in rows]


async def get(db: Database, owner_id: uuid.UUID, sub_id: uuid.UUID) -> Subscription | None:
    row = await db.fetchrow(
        "webhooks.get",
        f"SELECT {_SUB_COLUMNS} FROM webhook_subscriptions s WHERE s.id = $1 AND s.owner_id = $2 AND s.deleted_at IS NULL",
        sub_id, owner_id,
    )
    return None if row is None else _sub(row)


async def delete(db: Database, owner_id: uuid.UUID, sub_id: uuid.UUID) -> bool:
    """Stop a subscription; its pending deliveries are skipped."""
    async with db.transaction("webhooks.delete") as conn:
        tag = await conn.execute(
            "UPDATE webhook_subscriptions SET deleted_at = now() WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
            sub_id, owner_id,
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET state = 'skipped', finished_at = now() WHERE subscription_id = $1 AND state = 'pending'",
            sub_id,
        )
    return str(tag).endswith(" 1")


async def enable(db: Database, owner_id: uuid.UUID, sub_id: uuid.UUID) -> Subscription | None:
    """Enable a subscription again (after it was disabled for failing): new events are delivered again."""
    row = await db.fetchrow(
        "webhooks.enable",
        f"""
        UPDATE webhook_subscriptions s SET disabled_at = NULL, disabled_reason = NULL
        WHERE s.id = $1 AND s.owner_id = $2 AND s.deleted_at IS NULL RETURNING {_SUB_COLUMNS}
        """,
        sub_id, owner_id,
    )
    return None if row is None else _sub(row)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A delivery with what sending it takes: where, the secret, and whether it may still go."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    owner_id: uuid.UUID
    booking_id: uuid.UUID | None
    state: str
    attempts: int
    payload: dict[str, Any]
    url: str
    secret: str
    live: bool  # the subscription is neither deleted nor disabled


async def outgoing(db: Database, delivery_id: uuid.UUID) -> Outgoing | None:
    row = await db.fetchrow(
        "webhooks.outgoing",
        """
        SELECT d.id, d.subscription_id, s.owner_id, d.booking_id, d.state, d.attempts, d.payload, s.url, s.secret_sealed,
               s.deleted_at IS NULL AND s.disabled_at IS NULL AS live
        FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = $1
        """,
        delivery_id,
    )
    if row is None:
        return None
    secret = db.sealer.open_text(row["secret_sealed"], f"{_SECRET}:{row['subscription_id']}")
    return Outgoing(row["id"], row["subscription_id"], row["owner_id"], row["booking_id"], row["state"], row["attempts"],
                    row["payload"], row["url"], secret, row["live"])


async def attempted(
    db: Database, delivery_id: uuid.UUID, *, settle: str | None, now: datetime, status: int | None = None,
    latency_ms: int = 0, error: str | None = None, excerpt: str | None = None, record: bool = True,
) -> int | None:
    """Log one attempt (unless not `record`) and, if `settle` (delivered, failed, skipped), settle a pending
    delivery and queue the next of its booking's stream, in one round trip (webhook_attempted). Returns the
    attempt's number."""
    row = await db.fetchrow(
        "webhooks.attempted",
        "SELECT webhook_attempted($1, $2, $3, $4, $5, $6, $7, $8) AS attempt",
        delivery_id, settle, status, latency_ms, error, excerpt, now, record,
    )
    return None if row is None else row["attempt"]


async def give_up(db: Database, delivery: Outgoing, notice: NewNotice, *, now: datetime) -> list[Notice]:
    """A delivery failed for good: disable its subscription, skip what else is pending for it, and tell the
    owner (in-app). Returns the notifications written (to publish)."""
    await attempted(db, delivery.id, settle="failed", now=now, record=False)
    sent = await notifications.prepare(db, [notice])
    async with db.transaction("webhooks.give_up") as conn:
        await conn.execute(
            """
            UPDATE webhook_subscriptions SET disabled_at = now(), disabled_reason = 'failing'
            WHERE id = $1 AND disabled_at IS NULL
            """,
            delivery.subscription_id,
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET state = 'skipped', finished_at = now() WHERE subscription_id = $1 AND state = 'pending'",
            delivery.subscription_id,
        )
        return await notifications.write(conn, sent, now, email=False)


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    at: datetime
    status: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: uuid.UUID
    type: str
    booking_id: uuid.UUID | None
    booking_seq: int | None
    state: str
    created_at: datetime
    finished_at: datetime | None
    attempts: list[Attempt]


async def deliveries(db: Database, sub_id: uuid.UUID, *, limit: int, before: datetime | None) -> list[Delivery]:
    """A subscription's delivery log, newest first, each with its attempts."""
    rows = await db.fetch(
        "webhooks.deliveries",
        """
        SELECT d.id, d.type, d.booking_id, d.booking_seq, d.state, d.created_at, d.finished_at,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'attempt', a.attempt, 'at', a.at, 'status', a.status, 'latency_ms', a.latency_ms,
                   'error', a.error, 'excerpt', a.excerpt) ORDER BY a.attempt)
                 FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS tried
        FROM webhook_deliveries d
        WHERE d.subscription_id = $1 AND ($2::timestamptz IS NULL OR d.created_at < $2)
        ORDER BY d.created_at DESC LIMIT $3
        """,
        sub_id, before, limit,
    )
    return [
        Delivery(r["id"], r["type"], r["booking_id"], r["booking_seq"], r["state"], r["created_at"], r["finished_at"],
                 [Attempt(a["attempt"], datetime.fromisoformat(a["at"]), a["status"], a["latency_ms"], a["error"],
                          a["excerpt"]) for a in r["tried"]])
        for r in rows
    ]


async def redeliver(db: Database, sub_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Queue one more attempt at a delivery, whatever its state (the same webhook-id, out of turn)."""
    row = await db.fetchrow(
        "webhooks.redeliver",
        """
        INSERT INTO jobs (kind, payload, run_at)
        SELECT $3, jsonb_build_object('delivery_id', d.id, 'manual', true), $4
        FROM webhook_deliveries d WHERE d.id = $1 AND d.subscription_id = $2
        RETURNING id
        """,
        delivery_id, sub_id, DELIVER, now,
    )
    return row is not None


async def availability_changed(conn: asyncpg.Connection, practitioner_id: uuid.UUID, change: str) -> None:
    """Report a change of a practitioner's hours or time off, in the caller's transaction."""
    await conn.execute(
        "SELECT webhooks_enqueue('availability.changed', ARRAY[$1::uuid], NULL, NULL, $2::jsonb, 'availability:read')",
        practitioner_id, {"practitioner_id": str(practitioner_id), "change": change},
    )
