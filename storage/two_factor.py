"""Two-factor sign-in records: the sealed TOTP secret, the last time step used, recovery codes.

The secret is sealed bound to its account (a row moved to another account
does not open). Accepting a code moves `last_step` forward in one statement,
so the same code (or an older one) is refused the second time, also when two
sign-ins race. Recovery codes are SHA-256 hashes, each spent once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from .database import Database

_PURPOSE = "two_factor_secret"


def code_hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


@dataclass(frozen=True, slots=True)
class Factor:
    secret: str
    enabled: bool


async def get(db: Database, user_id: uuid.UUID) -> Factor | None:
    row = await db.fetchrow("two_factor.get", "SELECT secret_sealed, enabled_at FROM two_factor WHERE user_id = $1", user_id)
    if row is None:
        return None
    return Factor(db.sealer.open_text(row["secret_sealed"], f"{_PURPOSE}:{user_id}"), row["enabled_at"] is not None)


async def start(db: Database, user_id: uuid.UUID, secret: str) -> bool:
    """Store a new, not yet enabled secret (replacing an unconfirmed one); False if two-factor is already on."""
    tag = await db.execute(
        "two_factor.start",
        """
        INSERT INTO two_factor (user_id, secret_sealed) VALUES ($1, $2)
        ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = now(), last_step = NULL
        WHERE two_factor.enabled_at IS NULL
        """,
        user_id, db.sealer.seal_text(secret, f"{_PURPOSE}:{user_id}"),
    )
    return tag.endswith(" 1")


async def accept_step(db: Database, user_id: uuid.UUID, step: int) -> bool:
    """Use time step `step` once: True if it is newer than every step used before."""
    tag = await db.execute(
        "two_factor.accept_step",
        "UPDATE two_factor SET last_step = $2 WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
        user_id, step,
    )
    return tag.endswith(" 1")


async def enable(db: Database, user_id: uuid.UUID, recovery_codes: list[str]) -> None:
    async with db.transaction("two_factor.enable") as conn:
        await conn.execute("UPDATE two_factor SET enabled_at = now() WHERE user_id = $1", user_id)
        await conn.execute("DELETE FROM two_factor_recovery_codes WHERE user_id = $1", user_id)
        await conn.executemany(
            "INSERT INTO two_factor_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            [(user_id, code_hash(c)) for c in recovery_codes],
        )


async def spend_recovery_code(db: Database, user_id: uuid.UUID, code: str) -> bool:
    tag = await db.execute(
        "two_factor.spend_recovery_code",
        "UPDATE two_factor_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        user_id, code_hash(code),
    )
    return tag.endswith(" 1")


async def disable(db: Database, user_id: uuid.UUID) -> None:
    async with db.transaction("two_factor.disable") as conn:
        await conn.execute("DELETE FROM two_factor_recovery_codes WHERE user_id = $1", user_id)
        await conn.execute("DELETE FROM two_factor WHERE user_id = $1", user_id)
