"""Messages: batched posting with gap-free sequence numbers, history, edits and tombstones.

A plain conversation's message body is sealed with its sender's data key (`messages.body:<id>` as associated
data), so the sender's erasure leaves none of their words readable. Sealing a message takes a cached key
(no round trip once the sender's key is in this process); a page of history opens with at most the keys of
the people who wrote it, loaded in one query if any is not cached.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .database import Database
from .functions import call
from .keyring import Sealers

_BODY = "messages.body"


@dataclass(frozen=True, slots=True)
class Message:
    conversation_id: uuid.UUID
    seq: int
    rev: int
    id: uuid.UUID
    sender_id: uuid.UUID
    client_id: uuid.UUID
    body: str | None
    ciphertext: bytes | None
    nonce: bytes | None
    sender_key_id: str | None
    created_at: datetime
    edited_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as sent: either `body` (plain conversations) or the e2ee fields."""

    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    client_id: uuid.UUID
    body: str | None = None
    ciphertext: bytes | None = None
    nonce: bytes | None = None
    sender_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    """The outcome of one send: `ok`, `duplicate` (the original is returned), or a refusal."""

    status: str
    message: Message | None


def body_context(message_id: uuid.UUID) -> str:
    return f"{_BODY}:{message_id}"


def _message(keys: Sealers, r: asyncpg.Record | dict[str, Any]) -> Message:
    return Message(
        conversation_id=r["conversation_id"], seq=r["seq"], rev=r["rev"], id=r["id"], sender_id=r["sender_id"],
        client_id=r["client_id"], body=keys.open_text(r["sender_id"], r["body_sealed"], body_context(r["id"])),
        ciphertext=r["ciphertext"], nonce=r["nonce"], sender_key_id=r["sender_key_id"],
        created_at=r["created_at"], edited_at=r.get("edited_at"), deleted_at=r.get("deleted_at"),
    )


async def _messages(db: Database, rows: list[asyncpg.Record]) -> list[Message]:
    keys = await db.keys.sealers_for(db, [r["sender_id"] for r in rows if r["body_sealed"] is not None])
    return [_message(keys, r) for r in rows]


async def post_batch(db: Database, items: list[NewMessage]) -> list[Posted]:
    """Store `items` in one round trip; results are in the same order.

    Each body is sealed with its sender's key. A sender whose key was shredded while their send was in flight
    has been erased and has left their conversations: their item is refused as `not_member`, the others go on.
    """
    keys = await db.keys.sealers_for(db, [m.sender_id for m in items if m.body is not None])
    sendable = [m.body is None or keys.readable(m.sender_id) for m in items]
    stored = iter(await _post(db, keys, [m for m, ok in zip(items, sendable) if ok]) if any(sendable) else [])
    return [next(stored) if ok else Posted("not_member", None) for ok in sendable]


async def _post(db: Database, keys: Sealers, items: list[NewMessage]) -> list[Posted]:
    ids = [uuid.uuid4() for _ in items]
    bodies = [None if m.body is None else keys[m.sender_id].seal_text(m.body, body_context(i))
              for m, i in zip(items, ids)]
    rows = await db.fetch("messages.post_batch", *call(
        "post_messages", p_conversation=[m.conversation_id for m in items], p_id=ids,
        p_sender=[m.sender_id for m in items], p_client=[m.client_id for m in items], p_body=bodies,
        p_ciphertext=[m.ciphertext for m in items], p_nonce=[m.nonce for m in items],
        p_key=[m.sender_key_id for m in items],
    ))
    results: list[Posted] = []
    for item, row in zip(items, sorted(rows, key=lambda r: r["idx"])):
        if row["status"] not in ("ok", "duplicate"):
            results.append(Posted(row["status"], None))
            continue
        results.append(Posted(row["status"], _message(keys, {
            **dict(row), "sender_id": item.sender_id, "client_id": item.client_id,
        })))
    return results


_COLUMNS = """conversation_id, seq, rev, id, sender_id, client_id, body_sealed, ciphertext, nonce, sender_key_id,
              created_at, edited_at, deleted_at"""


async def page(
    db: Database, conversation_id: uuid.UUID, *, before_seq: int | None, after_seq: int | None, limit: int
) -> list[Message]:
    """History in ascending seq: the `limit` newest before `before_seq`, or the oldest after `after_seq`."""
    if after_seq is not None:
        rows = await db.fetch(
            "messages.page_after",
            f"""SELECT {_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2
                AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq LIMIT $4""",
            conversation_id, after_seq, before_seq, limit,
        )
    else:
        rows = await db.fetch(
            "messages.page_before",
            f"""SELECT * FROM (SELECT {_COLUMNS} FROM messages WHERE conversation_id = $1
                AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3) newest ORDER BY seq""",
            conversation_id, before_seq, limit,
        )
    return await _messages(db, rows)


async def between(db: Database, conversation_id: uuid.UUID, after_seq: int, upto_seq: int, limit: int) -> list[Message]:
    """Messages with after_seq < seq <= upto_seq, oldest first (recovery and gap filling)."""
    rows = await db.fetch(
        "messages.between",
        f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        conversation_id, after_seq, upto_seq, limit,
    )
    return await _messages(db, rows)


async def changed_since(db: Database, conversation_id: uuid.UUID, after_rev: int, upto_seq: int, limit: int) -> list[Message]:
    """Messages up to `upto_seq` edited or deleted after revision `after_rev`."""
    rows = await db.fetch(
        "messages.changed_since",
        f"""SELECT {_COLUMNS} FROM messages WHERE conversation_id = $1 AND rev > $2 AND seq <= $3
            AND (edited_at IS NOT NULL OR deleted_at IS NOT NULL) ORDER BY rev LIMIT $4""",
        conversation_id, after_rev, upto_seq, limit,
    )
    return await _messages(db, rows)


async def revise(
    db: Database, conversation_id: uuid.UUID, seq: int, author_id: uuid.UUID, *,
    body: str | None = None, ciphertext: bytes | None = None, nonce: bytes | None = None,
    sender_key_id: str | None = None, delete: bool = False,
) -> Posted:
    """Edit or tombstone a message of `author_id`; statuses: ok, not_member, request_pending, not_found,
    not_author, deleted, e2ee_required, plaintext_required.

    Membership is checked before the message is looked up, so someone outside
    the conversation learns nothing about its messages: `not_member` whether
    or not the conversation or the message exists.
    """
    # The author's key before the transaction (a key is never made inside one: see Keyring.sealers_for).
    keys = await db.keys.sealers_for(db, [] if body is None else [author_id])
    async with db.transaction("messages.revise") as conn:
        conv = await conn.fetchrow(
            """SELECT c.e2ee, c.last_rev, c.accepted_at IS NOT NULL AS accepted FROM conversations c
               WHERE c.id = $1 AND EXISTS (SELECT 1 FROM conversation_members m
                                           WHERE m.conversation_id = c.id AND m.user_id = $2)
               FOR UPDATE OF c""",
            conversation_id, author_id,
        )
        if conv is None:
            return Posted("not_member", None)
        if not conv["accepted"]:
            return Posted("request_pending", None)
        row = await conn.fetchrow(
            "SELECT id, sender_id, deleted_at FROM messages WHERE conversation_id = $1 AND seq = $2", conversation_id, seq
        )
        if row is None:
            return Posted("not_found", None)
        if row["sender_id"] != author_id:
            return Posted("not_author", None)
        if row["deleted_at"] is not None:
            return Posted("deleted", None)
        rev = conv["last_rev"] + 1
        if delete:
            updated = await conn.fetchrow(
                f"""UPDATE messages SET rev = $3, deleted_at = now(), body_sealed = NULL, ciphertext = NULL,
                    nonce = NULL, sender_key_id = NULL WHERE conversation_id = $1 AND seq = $2 RETURNING {_COLUMNS}""",
                conversation_id, seq, rev,
            )
        else:
            if conv["e2ee"] != (ciphertext is not None):
                return Posted("e2ee_required" if conv["e2ee"] else "plaintext_required", None)
            sealed = None if body is None else keys[author_id].seal_text(body, body_context(row["id"]))
            updated = await conn.fetchrow(
                f"""UPDATE messages SET rev = $3, edited_at = now(), body_sealed = $4, ciphertext = $5, nonce = $6,
                    sender_key_id = $7 WHERE conversation_id = $1 AND seq = $2 RETURNING {_COLUMNS}""",
                conversation_id, seq, rev, sealed, ciphertext, nonce, sender_key_id,
            )
        await conn.execute("UPDATE conversations SET last_rev = $2 WHERE id = $1", conversation_id, rev)
    return Posted("ok", _message(keys, updated))
