"""Upgrade step `owner_keys` (migration 0100): personal fields move to their owner's data key.

Before 0100, emails, message bodies and booking notes and reasons were sealed with the system key, and the
display names of clients and admins and the data of notifications were in clear. 0100 renamed those sealed
columns `*_system_sealed` and added the owner-sealed ones beside them; this step opens each old value (with the
system key, or as it is), seals it with its owner's key into the new column (the same associated data as new
writes use) and empties the old one. Whose key: see storage/accounts.py, messages.py, bookings.py and
notifications.py, whose context helpers it uses, so the values it writes are exactly what they read.

It goes table by table in batches: a keyset walk over the primary key, selecting only rows still in the old
form, with the keys a batch needs loaded (or made) in one query and the batch written by one UPDATE. Run again
after an interruption, it finds only what is left.

An old value whose owner was erased (key shredded) is dropped, not resealed: erasure must leave nothing
readable, and a copy under the system key would be. Erasure had already emptied nearly all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from .accounts import email_context, name_context, public_name
from .bookings import CANCEL_REASON, DECLINE_REASON, NOTE, reason_author
from .database import Database
from .messages import body_context
from .notifications import seal_data

BATCH = 500

Convert = Callable[[Database, list[asyncpg.Record]], Awaitable[None]]


async def run(db: Database) -> int:
    """Reseal every row still in the old form; returns how many rows were converted."""
    return (await _walk(db, "users", _USERS, _users) + await _walk(db, "messages", _MESSAGES, _messages)
            + await _walk(db, "bookings", _BOOKINGS, _bookings)
            + await _walk(db, "notifications", _NOTIFICATIONS, _notifications))


async def _walk(db: Database, table: str, select: str, convert: Convert) -> int:
    """Convert the rows `select` finds, BATCH at a time, in order of id."""
    done, after = 0, uuid.UUID(int=0)
    while rows := await db.fetch(f"reseal.{table}", select, after, BATCH):
        await convert(db, rows)
        done, after = done + len(rows), rows[-1]["id"]
    return done


_USERS = """
    SELECT id, role, display_name, email_system_sealed, erased_at FROM users
    WHERE id > $1 AND (email_system_sealed IS NOT NULL
                       OR (display_name IS NOT NULL AND role <> 'practitioner' AND erased_at IS NULL))
    ORDER BY id LIMIT $2
"""


async def _users(db: Database, rows: list[asyncpg.Record]) -> None:
    """Email and private name to the account's key; an erased account's leftover (empty) email is dropped and
    its clear "Deleted user" kept."""
    keys = await db.keys.sealers_for(db, [r["id"] for r in rows if r["erased_at"] is None])
    emails: list[bytes | None] = []
    names: list[bytes | None] = []
    for r in rows:
        if r["erased_at"] is not None:
            emails.append(None)
            names.append(None)
            continue
        sealer, user_id = keys[r["id"]], r["id"]
        old = r["email_system_sealed"]
        emails.append(None if old is None else sealer.seal_text(db.sealer.open_text(old, email_context(user_id)),
                                                                 email_context(user_id)))
        private = r["display_name"] is not None and not public_name(r["role"])
        names.append(sealer.seal_text(r["display_name"], name_context(user_id)) if private else None)
    await db.execute(
        "reseal.users_write",
        """
        UPDATE users u SET email_sealed = coalesce(t.email, u.email_sealed), email_system_sealed = NULL,
                           name_sealed = coalesce(t.name, u.name_sealed),
                           display_name = CASE WHEN t.name IS NULL THEN u.display_name END
        FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS t (id, email, name) WHERE u.id = t.id
        """,
        [r["id"] for r in rows], emails, names,
    )


_MESSAGES = """
    SELECT id, sender_id, body_system_sealed FROM messages
    WHERE id > $1 AND body_system_sealed IS NOT NULL ORDER BY id LIMIT $2
"""


async def _messages(db: Database, rows: list[asyncpg.Record]) -> None:
    """Each body to its sender's key; an erased sender's is dropped and the message marked deleted."""
    keys = await db.keys.sealers_for(db, {r["sender_id"] for r in rows})
    bodies = [
        keys[r["sender_id"]].seal_text(db.sealer.open_text(r["body_system_sealed"], body_context(r["id"])),
                                       body_context(r["id"]))
        if keys.readable(r["sender_id"]) else None
        for r in rows
    ]
    await db.execute(
        "reseal.messages_write",
        """
        UPDATE messages m SET body_sealed = t.body, body_system_sealed = NULL,
                              deleted_at = CASE WHEN t.body IS NULL THEN coalesce(m.deleted_at, now())
                                                ELSE m.deleted_at END
        FROM unnest($1::uuid[], $2::bytea[]) AS t (id, body) WHERE m.id = t.id
        """,
        [r["id"] for r in rows], bodies,
    )


_BOOKINGS = """
    SELECT id, client_id, practitioner_id, cancelled_by, note_system_sealed, cancel_reason_system_sealed,
           decline_reason_system_sealed FROM bookings
    WHERE id > $1 AND num_nonnulls(note_system_sealed, cancel_reason_system_sealed, decline_reason_system_sealed) > 0
    ORDER BY id LIMIT $2
"""


def _booking_fields(r: asyncpg.Record) -> list[tuple[str, str, uuid.UUID]]:
    """(column, context purpose, author) of each sealed field of booking row `r`."""
    return [
        ("note", NOTE, r["client_id"]),
        ("cancel_reason", CANCEL_REASON, reason_author("cancelled", r["client_id"], r["practitioner_id"],
                                                       r["cancelled_by"])),
        ("decline_reason", DECLINE_REASON, r["practitioner_id"]),
    ]


async def _bookings(db: Database, rows: list[asyncpg.Record]) -> None:
    """The note to the client's key, each reason to its author's; what an erased author wrote is dropped."""
    keys = await db.keys.sealers_for(db, [author for r in rows for _, _, author in _booking_fields(r)])
    columns: dict[str, list[bytes | None]] = {"note": [], "cancel_reason": [], "decline_reason": []}
    for r in rows:
        for column, purpose, author in _booking_fields(r):
            old, context = r[f"{column}_system_sealed"], f"{purpose}:{r['id']}"
            fresh = None
            if old is not None and keys.readable(author):
                fresh = keys[author].seal_text(db.sealer.open_text(old, context), context)
            columns[column].append(fresh)
    await db.execute(
        "reseal.bookings_write",
        """
        UPDATE bookings b SET note_sealed = coalesce(t.note, b.note_sealed),
                              cancel_reason_sealed = coalesce(t.cancel_reason, b.cancel_reason_sealed),
                              decline_reason_sealed = coalesce(t.decline_reason, b.decline_reason_sealed),
                              note_system_sealed = NULL, cancel_reason_system_sealed = NULL,
                              decline_reason_system_sealed = NULL
        FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[]) AS t (id, note, cancel_reason, decline_reason)
        WHERE b.id = t.id
        """,
        [r["id"] for r in rows], columns["note"], columns["cancel_reason"], columns["decline_reason"],
    )


_NOTIFICATIONS = """
    SELECT n.id, n.user_id, n.data, u.id IS NOT NULL AND u.erased_at IS NULL AS live
    FROM notifications n LEFT JOIN users u ON u.id = n.user_id
    WHERE n.id > $1 AND n.data IS NOT NULL ORDER BY n.id LIMIT $2
"""


async def _notifications(db: Database, rows: list[asyncpg.Record]) -> None:
    """Each notification's data to its recipient's key; one whose recipient was erased or deleted (the foreign
    key went in migration 0029) is removed."""
    keys = await db.keys.sealers_for(db, {r["user_id"] for r in rows if r["live"]})
    kept = [r for r in rows if r["live"] and keys.readable(r["user_id"])]
    async with db.transaction("reseal.notifications_write") as conn:
        await conn.execute(
            """
            UPDATE notifications n SET data_sealed = t.sealed, data = NULL
            FROM unnest($1::uuid[], $2::bytea[]) AS t (id, sealed) WHERE n.id = t.id
            """,
            [r["id"] for r in kept], [seal_data(keys[r["user_id"]], r["id"], r["data"]) for r in kept],
        )
        await conn.execute("DELETE FROM notifications WHERE id = ANY($1::uuid[]) AND data IS NOT NULL",  # not resealed
                           [r["id"] for r in rows])
