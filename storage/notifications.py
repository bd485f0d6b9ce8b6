"""In-app notifications, read state, email bookkeeping and per-user preferences.

Notifications are written by the booking functions and job handlers through
the `notify` SQL function (storage/functions/notify.sql), which also queues
the email of each one the recipient wants by email.

A notification's data (times, the offering's name, the other person's name)
is sealed with its recipient's data key before it reaches SQL (`prepare`),
bound to the notification's id, which is made here for that reason; the
table never holds it in clear. The notices to publish take their data from
memory, not from the database.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .accounts import email_context, shown_name
from .crypto import Sealer
from .database import Database
from .functions import call
from .keyring import Sealers

DATA = "notifications.data"


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


@dataclass(frozen=True, slots=True)
class Prepared:
    """Notices ready for the `notify` SQL function (`prepare`): `arg` is its `p_notices` argument, each
    notice's data sealed with its recipient's key (base64); `data` is the plaintext by notice id."""

    arg: list[dict[str, Any]]
    data: dict[str, dict[str, Any]]


NOTHING = Prepared([], {})


def data_context(notice_id: uuid.UUID | str) -> str:
    return f"{DATA}:{notice_id}"


def seal_data(sealer: Sealer, notice_id: uuid.UUID, data: dict[str, Any]) -> bytes:
    return sealer.seal(json.dumps(data, separators=(",", ":")).encode(), data_context(notice_id))


def _open_data(keys: Sealers, r: asyncpg.Record) -> dict[str, Any]:
    opened = keys.open_text(r["user_id"], r["data_sealed"], data_context(r["id"]))
    return {} if opened is None else json.loads(opened)  # {}: the recipient was erased meanwhile


async def prepare(db: Database, notices: list[NewNotice]) -> Prepared:
    """Seal each notice's data with its recipient's key, bound to the notice's new id. A recipient whose key
    was shredded (erased) is told nothing. Call it before opening a transaction: it may create a key."""
    if not notices:
        return NOTHING
    keys = await db.keys.sealers_for(db, [n.user_id for n in notices])
    arg: list[dict[str, Any]] = []
    data: dict[str, dict[str, Any]] = {}
    for n in notices:
        if not keys.readable(n.user_id):
            continue
        notice_id = uuid.uuid4()
        arg.append({
            "id": str(notice_id), "user_id": str(n.user_id), "kind": n.kind, "category": n.category,
            "booking_id": None if n.booking_id is None else str(n.booking_id),
            "data_sealed": base64.b64encode(seal_data(keys[n.user_id], notice_id, n.data)).decode(),
            "dedupe_key": n.dedupe_key,
        })
        data[str(notice_id)] = n.data
    return Prepared(arg, data)


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


def from_written(out: Prepared, items: list[dict[str, Any]] | None) -> list[Notice]:
    """The notices a SQL function reports it inserted, out of those `out` held (their data from memory)."""
    return [
        Notice(
            id=uuid.UUID(n["id"]), user_id=uuid.UUID(n["user_id"]), kind=n["kind"], category=n["category"],
            booking_id=None if n["booking_id"] is None else uuid.UUID(n["booking_id"]), data=out.data[n["id"]],
            created_at=datetime.fromisoformat(n["created_at"]),
        )
        for n in items or ()
    ]


def from_sent(out: Prepared, created_at: datetime) -> list[Notice]:
    """The notices of `out`, which a SQL function wrote in full, in a transaction that began at `created_at`
    (their `created_at`)."""
    return [
        Notice(
            id=uuid.UUID(n["id"]), user_id=uuid.UUID(n["user_id"]), kind=n["kind"], category=n["category"],
            booking_id=None if n["booking_id"] is None else uuid.UUID(n["booking_id"]), data=out.data[n["id"]],
            created_at=created_at,
        )
        for n in out.arg
    ]


async def _notices(db: Database, rows: list[asyncpg.Record]) -> list[Notice]:
    keys = await db.keys.sealers_for(db, {r["user_id"] for r in rows})
    return [
        Notice(r["id"], r["user_id"], r["kind"], r["category"], r["booking_id"], _open_data(keys, r), r["created_at"],
               r["read_at"])
        for r in rows
    ]


async def write(conn: asyncpg.Connection, out: Prepared, now: datetime, *, email: bool) -> list[Notice]:
    """Insert the prepared notifications in the caller's transaction, and queue their emails if `email` is
    configured; returns those inserted."""
    return from_written(out, await conn.fetchval(*call("notify", p_notices=out.arg, p_now=now, p_email=email)))


async def list_for(
    db: Database, user_id: uuid.UUID, *, unread_only: bool, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[Notice]:
    """The user's notifications, newest first, after the (created_at, id) cursor `before`."""
    rows = await db.fetch(
        "notifications.list_for",
        """
        SELECT id, user_id, kind, category, booking_id, data_sealed, created_at, read_at FROM notifications
        WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $5
        """,
        user_id, unread_only, before[0] if before else None, before[1] if before else None, limit,
    )
    return await _notices(db, rows)


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
    """The notice with its recipient's address and name (both opened) and time zone, or None if it is gone."""
    row = await db.fetchrow(
        "notifications.for_email",
        """
        SELECT n.id, n.user_id, n.kind, n.category, n.booking_id, n.data_sealed, n.created_at, n.read_at,
               n.emailed_at, u.email_sealed, u.display_name, u.name_sealed, u.time_zone
        FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.id = $1
        """,
        notification_id,
    )
    if row is None:
        return None
    user_id = row["user_id"]
    keys = await db.keys.sealers_for(db, [user_id])
    email = keys.open_text(user_id, row["email_sealed"], email_context(user_id))
    if email is None:  # erased since the notice was written: nobody to write to
        return None
    name = shown_name(keys, user_id, row["display_name"], row["name_sealed"])
    notice = (await _notices(db, [row]))[0]
    return EmailJob(notice, email, name, row["time_zone"], row["emailed_at"] is not None)


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
