"""Secret calendar-feed tokens, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import uuid

from .database import Database


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def set_token(db: Database, user_id: uuid.UUID, token: str) -> None:
    """Give the user a feed at `token`, replacing (and so retiring) any earlier one."""
    await db.execute(
        "calendar.set_token",
        """INSERT INTO calendar_feeds (user_id, token_hash) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()""",
        user_id, token_hash(token),
    )


async def remove_token(db: Database, user_id: uuid.UUID) -> bool:
    tag = await db.execute("calendar.remove_token", "DELETE FROM calendar_feeds WHERE user_id = $1", user_id)
    return tag.endswith(" 1")


async def owner_of(db: Database, token: str) -> uuid.UUID | None:
    """The user whose feed `token` opens, or None."""
    row = await db.fetchrow(
        "calendar.owner_of", "SELECT user_id FROM calendar_feeds WHERE token_hash = $1", token_hash(token)
    )
    return None if row is None else row["user_id"]
