"""Conversations and their members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


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


async def create_for_booking(
    conn: asyncpg.Connection, *, booking_id: uuid.UUID, member_ids: list[uuid.UUID], created_by: uuid.UUID | None
) -> uuid.UUID:
    """The conversation of a booking, created with its members if it does not exist yet.

    Takes the caller's connection so it joins the transaction that writes the
    booking: a booking never exists without its conversation.
    """
    conversation_id = await conn.fetchval(
        """
        INSERT INTO conversations (id, kind, booking_id, created_by) VALUES ($1, 'booking', $2, $3)
        ON CONFLICT (booking_id) DO NOTHING RETURNING id
        """,
        uuid.uuid4(), booking_id, created_by,
    )
    if conversation_id is None:
        existing: uuid.UUID = await conn.fetchval("SELECT id FROM conversations WHERE booking_id = $1", booking_id)
        return existing
    await conn.executemany(
        "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(conversation_id, m) for m in member_ids],
    )
    return conversation_id
