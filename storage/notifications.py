"""In-app notifications, read state, email bookkeeping and per-user preferences.

Notifications are written by the booking functions and job handlers through
the `notify` SQL function (storage/functions/notify.sql), which also queues
the email of each one the recipient wants by email.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .database import Database
from .functions import call


@dataclass(frozen=True, slots=True)
class Notice:
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    category: str  # "reminder" or "update"
    booking_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewNotice:
    """A notification to write; `dedupe_key` makes writing it twice a no-op."""

    user_id: uuid.UUID
    kind: str
    category: str
    booking_id: uuid.UUID | None
    data: dict[str, Any]
    dedupe_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()), "user_id": str(self.user_id), "kind": self.kind, "category": self.category,
            "booking_id": None if self.booking_id is None else str(self.booking_id), "data": self.data,
            "dedupe_key": self.dedupe_key,
        }


@dataclass(frozen=True, slots=True)
class Preferences:
    email_reminders: bool = True
    email_updates: bool = True


@dataclass(frozen=True, slots=True)
class EmailJob:
    """What sending one notification by email needs: the notice and its recipient."""

    notice: Notice
    email: str
    display_name: str
    time_zone: str
    emailed: bool


def notices_arg(notices: list[NewNotice]) -> list[dict[str, Any]]:
    """The `p_notices` (jsonb) argument of the SQL functions."""
    return [n.as_json() for n in notices]


def from_written(items: list[dict[str, Any]] | None) -> list[Notice]:
    """The notices a SQL function reports it inserted."""
    return [
        Notice(
            id=uuid.UUID(n["id"]), user_id=uuid.UUID(n["user_id"]), kind=n["kind"], category=n["category"],
            booking_id=None if n["booking_id"] is None else uuid.UUID(n["booking_id"]), data=n["data"],
            created_at=datetime.fromisoformat(n["created_at"]),
        )
        for n in items or ()
    ]


def from_sent(items: list[dict[str, Any]], created_at: datetime) -> list[Notice]:
    """The notices of a `notices_arg` list that a SQL function wrote in full, in a transaction that began at
    `created_at` (their `created_at`)."""
    return [
        Notice(
            id=uuid.UUID(n["id"]), user_id=uuid.UUID(n["user_id"]), kind=n["kind"], category=n["category"],
            booking_id=None if n["booking_id"] is None else uuid.UUID(n["booking_id"]), data=n["data"],
            created_at=created_at,
        )
        for n in items
    ]


def _notice(r: asyncpg.Record) -> Notice:
    return Notice(r["id"], r["user_id"], r["kind"], r["category"], r["booking_id"], r["data"], r["created_at"], r["read_at"])


async def write(conn: asyncpg.Connection, notices: list[NewNotice], now: datetime, *, email: bool) -> list[Notice]:
    """Insert notifications in the caller's transaction, and queue their emails if `email` is configured;
    returns those inserted."""
    return from_written(await conn.fetchval(*call("notify", p_notices=notices_arg(notices), p_now=now, p_email=email)))


async def list_for(
    db: Database, user_id: uuid.UUID, *, unread_only: bool, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[Notice]:
    """The user's notifications, newest first, after the (created_at, id) cursor `before`."""
    rows = await db.fetch(
        "notifications.list_for",
        """
        SELECT id, user_id, kind, category, booking_id, data, created_at, read_at FROM notifications
        WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $5
        """,
        user_id, unread_only, before[0] if before else None, before[1] if before else None, limit,
    )
    return [_notice(r) for r in rows]


async def unread_count(db: Database, user_id: uuid.UUID) -> int:
    row = await db.fetchrow(
        "notifications.unread_count", "SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        user_id,
    )
    return 0 if row is None else int(row["n"])


async def mark_read(db: Database, user_id: uuid.UUID, ids: list[uuid.UUID] | None) -> int:
    """Mark the user's notifications `ids` (or all of them, if None) read; returns how many changed."""
    tag = await db.execute(
        "notifications.mark_read",
        """UPDATE notifications SET read_at = now()
           WHERE user_id = $1 AND read_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY ($2::uuid[]))""",
        user_id, ids,
    )
    return int(tag.rsplit(" ", 1)[1])


async def for_email(db: Database, notification_id: uuid.UUID) -> EmailJob | None:
    """The notice with its recipient's address (opened), name and time zone, or None if it is gone."""
    row = await db.fetchrow(
        "notifications.for_email",
        """
        SELECT n.id, n.user_id, n.kind, n.category, n.booking_id, n.data, n.created_at, n.read_at, n.emailed_at,
               u.email_sealed, u.display_name, u.time_zone
        FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.id = $1
        """,
        notification_id,
    )
    if row is None:
        return None
    email = db.sealer.open_text(row["email_sealed"], f"users.email:{row['user_id']}")
    return EmailJob(_notice(row), email, row["display_name"], row["time_zone"], row["emailed_at"] is not None)


async def mark_emailed(db: Database, notification_id: uuid.UUID) -> None:
    await db.execute(
        "notifications.mark_emailed", "UPDATE notifications SET emailed_at = now() WHERE id = $1", notification_id
    )


async def preferences(db: Database, user_id: uuid.UUID) -> Preferences:
    row = await db.fetchrow(
        "notifications.preferences",
        "SELECT email_reminders, email_updates FROM notification_preferences WHERE user_id = $1", user_id,
    )
    return Preferences() if row is None else Preferences(row["email_reminders"], row["email_updates"])


async def save_preferences(db: Database, user_id: uuid.UUID, prefs: Preferences) -> Preferences:
    await db.execute(
        "notifications.save_preferences",
        """
        INSERT INTO notification_preferences (user_id, email_reminders, email_updates) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET email_reminders = EXCLUDED.email_reminders,
                                            email_updates = EXCLUDED.email_updates, updated_at = now()
        """,
        user_id, prefs.email_reminders, prefs.email_updates,
    )
    return prefs
