"""Email verification: single-use tokens (hashes only) that mark an account's address as its owner's."""

from __future__ import annotations

import uuid

from .database import Database
from .password_resets import token_hash


async def issue(db: Database, user_id: uuid.UUID, token: str, ttl_seconds: int) -> None:
    await db.execute(
        "email_verification.issue",
        "INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
        token_hash(token), user_id, ttl_seconds,
    )


async def spend(db: Database, token: str) -> uuid.UUID | None:
    """Mark the token's account verified; None if the token is unknown, used or expired."""
    async with db.transaction("email_verification.spend") as conn:
        user_id = await conn.fetchval(
            """
            UPDATE email_verifications SET used_at = now()
            WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id
            """,
            token_hash(token),
        )
        if user_id is not None:
            await conn.execute(
                "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1", user_id)
    return user_id


async def is_verified(db: Database, user_id: uuid.UUID) -> bool:
    row = await db.fetchrow("email_verification.is_verified",
                            "SELECT email_verified_at IS NOT NULL AS verified FROM users WHERE id = $1", user_id)
    return bool(row and row["verified"])
