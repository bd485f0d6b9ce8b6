"""Conversations and their members, and the contact requests that direct conversations start as.

A direct conversation is a request (`accepted_at` NULL) until the other
member accepts it or a booking between the two exists (migration 0034).
Only accepted conversations make people contacts: see each other's presence
and device keys, and send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .database import Database, require


@dataclass(frozen=True, slots=True)
class Conversation:
    id: uuid.UUID
    kind: str
    e2ee: bool
    booking_id: uuid.UUID | None
    created_at: datetime
    last_seq: int
    last_rev: int
    member_ids: tuple[uuid.UUID, ...]
    created_by: uuid.UUID | None
    accepted_at: datetime | None

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None


@dataclass(frozen=True, slots=True)
class Summary:
    """A conversation as one member sees it in their list."""

    conversation: Conversation
    read_seq: int

    @property
    def unread(self) -> int:
        return max(0, self.conversation.last_seq - self.read_seq)


@dataclass(frozen=True, slots=True)
class Read:
    """The outcome of a read receipt: `ok` (with the stored position and whether it moved),
    `not_member` or `request_pending`."""

    status: str
    read_seq: int = 0
    moved: bool = False


_COLUMNS = """c.id, c.kind, c.e2ee, c.booking_id, c.created_at, c.last_seq, c.last_rev,
    (SELECT array_agg(m.user_id ORDER BY m.joined_at, m.user_id) FROM conversation_members m
     WHERE m.conversation_id = c.id) AS member_ids, c.created_by, c.accepted_at"""

# Whether users $A and $B have a booking between them (either way round): a relationship, so a
# direct conversation between them needs no acceptance.
_BOOKED = """EXISTS (SELECT 1 FROM bookings b WHERE (b.client_id = {a} AND b.practitioner_id = {b})
                                             OR (b.client_id = {b} AND b.practitioner_id = {a}))"""


def _conversation(r: asyncpg.Record) -> Conversation:
    return Conversation(
        r["id"], r["kind"], r["e2ee"], r["booking_id"], r["created_at"], r["last_seq"], r["last_rev"],
        tuple(r["member_ids"] or ()), r["created_by"], r["accepted_at"],
    )


async def create_direct(db: Database, creator: uuid.UUID, other: uuid.UUID, *, e2ee: bool) -> tuple[Conversation, bool]:
    """The one-to-one conversation of two users (one plain and one e2ee per pair); True if created now.

    A new one is a request to `other`, accepted at once if the two have a
    booking between them. Asking for an existing request that `other` made
    accepts it: both have asked.
    """
    low, high = sorted((creator, other))
    key = f"{low}:{high}:{'e2ee' if e2ee else 'plain'}"
    async with db.transaction("conversations.create_direct") as conn:
        new_id = await conn.fetchval(
            f"""INSERT INTO conversations (id, kind, e2ee, direct_key, created_by, accepted_at)
                SELECT $1, 'direct', $2, $3, $4, CASE WHEN {_BOOKED.format(a="$4", b="$5")} THEN now() END
                ON CONFLICT (direct_key) WHERE direct_key IS NOT NULL DO NOTHING RETURNING id""",
            uuid.uuid4(), e2ee, key, creator, other,
        )
        if new_id is not None:
            await conn.executemany(
                "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)",
                [(new_id, creator), (new_id, other)],
            )
        else:
            await conn.execute(
                """UPDATE conversations SET accepted_at = now()
                   WHERE direct_key = $1 AND accepted_at IS NULL AND created_by IS DISTINCT FROM $2""",
                key, creator,
            )
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM conversations c WHERE c.direct_key = $1", key)
    return _conversation(require(row, "conversation")), new_id is not None


async def accept(db: Database, conversation_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """Accept the contact request of a direct conversation as the member it asks.

    Returns `accepted` (now, or already), `not_member` (whether or not it
    exists) or `own_request` (the requester cannot accept for the other person).
    """
    row = await db.fetchrow(
        "conversations.accept",
        """
        WITH target AS (
            SELECT c.id, c.created_by, c.accepted_at FROM conversations c
            JOIN conversation_members me ON me.conversation_id = c.id AND me.user_id = $2
            WHERE c.id = $1
        ), accepted AS (
            UPDATE conversations c SET accepted_at = now() FROM target t
            WHERE c.id = t.id AND c.accepted_at IS NULL AND t.created_by IS DISTINCT FROM $2
            RETURNING c.id
        )
        SELECT t.accepted_at IS NOT NULL OR EXISTS (SELECT 1 FROM accepted) AS accepted FROM target t
        """,
        conversation_id, user_id,
    )
    if row is None:
        return "not_member"
    return "accepted" if row["accepted"] else "own_request"


async def for_member(db: Database, conversation_id: uuid.UUID, user_id: uuid.UUID) -> Summary | None:
    """The conversation if `user_id` is a member of it, else None (whether or not it exists)."""
    row = await db.fetchrow(
        "conversations.for_member",
        f"""SELECT {_COLUMNS}, me.read_seq FROM conversations c
            JOIN conversation_members me ON me.conversation_id = c.id AND me.user_id = $2 WHERE c.id = $1""",
        conversation_id, user_id,
    )
    return None if row is None else Summary(_conversation(row), row["read_seq"])


async def last_seq(db: Database, conversation_id: uuid.UUID) -> int:
    """The seq of the conversation's latest message (0 if it has none, or does not exist)."""
    row = await db.fetchrow(
        "conversations.last_seq", "SELECT last_seq FROM conversations WHERE id = $1", conversation_id
    )
    return 0 if row is None else int(row["last_seq"])


async def list_for_user(db: Database, user_id: uuid.UUID, limit: int = 200) -> list[Summary]:
    """The user's conversations, most recently active first, with their read position."""
    rows = await db.fetch(
        "conversations.list_for_user",
        f"""
        SELECT {_COLUMNS}, me.read_seq
        FROM conversation_members me JOIN conversations c ON c.id = me.conversation_id
        WHERE me.user_id = $1
        ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id
        LIMIT $2
        """,
        user_id, limit,
    )
    return [Summary(_conversation(r), r["read_seq"]) for r in rows]


async def mark_read(db: Database, conversation_id: uuid.UUID, user_id: uuid.UUID, seq: int) -> Read:
    """Move the member's read position forward to `seq` (never back, never past the last message).

    `moved` says whether this call moved it: the row is updated only when the
    new position is higher, and a concurrent receipt is re-checked against the
    row it waited for, so of any set of receipts only those that really
    advance the position report `moved`, each with a higher position.
    """
    row = await db.fetchrow(
        "conversations.mark_read",
        """
        WITH moved AS (
            UPDATE conversation_members m SET read_seq = least($3, c.last_seq)
            FROM conversations c
            WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.id = m.conversation_id
              AND c.accepted_at IS NOT NULL AND least($3, c.last_seq) > m.read_seq
            RETURNING m.read_seq
        )
        SELECT (SELECT read_seq FROM moved) AS moved_to, greatest(m.read_seq, least($3, c.last_seq)) AS read_seq,
               c.accepted_at IS NOT NULL AS accepted
        FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
        WHERE m.conversation_id = $1 AND m.user_id = $2
        """,
        conversation_id, user_id, seq,
    )
    if row is None:
        return Read("not_member")
    if not row["accepted"]:
        return Read("request_pending")
    if row["moved_to"] is not None:
        return Read("ok", int(row["moved_to"]), moved=True)
    return Read("ok", int(row["read_seq"]))


async def read_positions(db: Database, conversation_id: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = await db.fetch(
        "conversations.read_positions",
        "SELECT user_id, read_seq FROM conversation_members WHERE conversation_id = $1", conversation_id,
    )
    return {r["user_id"]: r["read_seq"] for r in rows}


async def members(db: Database, conversation_id: uuid.UUID) -> list[uuid.UUID]:
    """The members of a conversation (none if it does not exist)."""
    rows = await db.fetch(
        "conversations.members",
        "SELECT user_id FROM conversation_members WHERE conversation_id = $1", conversation_id,
    )
    return [r["user_id"] for r in rows]


async def contacts(db: Database, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Everyone who shares at least one accepted conversation with `user_id` (a pending request makes
    no one a contact: presence follows accepted relationships only)."""
    rows = await db.fetch(
        "conversations.contacts",
        """
        SELECT DISTINCT other.user_id FROM conversation_members me
        JOIN conversations c ON c.id = me.conversation_id AND c.accepted_at IS NOT NULL
        JOIN conversation_members other ON other.conversation_id = me.conversation_id AND other.user_id <> me.user_id
        WHERE me.user_id = $1
        """,
        user_id,
    )
    return [r["user_id"] for r in rows]


async def shared_with(db: Database, user_id: uuid.UUID, others: list[uuid.UUID]) -> set[uuid.UUID]:
    """The subset of `others` who share an accepted conversation with `user_id` (their contacts)."""
    rows = await db.fetch(
        "conversations.shared_with",
        """
        SELECT DISTINCT other.user_id FROM conversation_members me
        JOIN conversations c ON c.id = me.conversation_id AND c.accepted_at IS NOT NULL
        JOIN conversation_members other ON other.conversation_id = me.conversation_id
        WHERE me.user_id = $1 AND other.user_id = ANY ($2::uuid[])
        """,
        user_id, others,
    )
    return {r["user_id"] for r in rows}


async def add_members(db: Database, conversation_id: uuid.UUID, user_ids: list[uuid.UUID]) -> int:
    """Add members to a conversation (group conversations); returns how many were new."""
    tag = await db.execute(
        "conversations.add_members",
        """INSERT INTO conversation_members (conversation_id, user_id)
           SELECT $1, u FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING""",
        conversation_id, user_ids,
    )
    return int(tag.rsplit(" ", 1)[-1])
