"""Password reset tokens: issued by the reset email, spent once to set a new password.

The token is random (the email carries it); only its SHA-256 is stored. Spending
a token is one transaction: it must be unused and unexpired, the password is
set, every other outstanding token of the account is spent with it, and every
login session of the account is revoked (whoever had the old password, or a
stolen refresh token, is signed out everywhere).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from .database import Database


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue(db: Database, user_id: uuid.UUID, token: str, ttl_seconds: int) -> None:
    await db.execute(
        "password_resets.issue",
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
        token_hash(token), user_id, ttl_seconds,
    )


@dataclass(frozen=True, slots=True)
class Spent:
    user_id: uuid.UUID
    revoked_sessions: list[uuid.UUID]


async def spend(db: Database, token: str, password_hash: str) -> Spent | None:
    """Set the password of the token's account and sign it out everywhere; None if the token is unknown,
    used or expired."""
    async with db.transaction("password_resets.spend") as conn:
        user_id = await conn.fetchval(
            """
            UPDATE password_resets SET used_at = now()
            WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
            RETURNING user_id
            """,
            token_hash(token),
        )
        if user_id is None:
            return None
        await conn.execute("UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", user_id)
        await conn.execute("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", user_id, password_hash)
        rows = await conn.fetch(
            """
            UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'password_reset'
            WHERE user_id = $1 AND revoked_at IS NULL RETURNING id
            """,
            user_id,
        )
    return Spent(user_id, [r["id"] for r in rows])
