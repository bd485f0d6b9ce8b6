"""Public X25519 keys of users' devices, for end-to-end encrypted conversations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from .database import Database
from .errors import Duplicate, Refusal, StorageError


class KeyIdTaken(Duplicate):
    """The user already registered a key under this key id."""

    def __init__(self) -> None:
        super().__init__("device_keys_user_id_key_id_key")


class TooManyKeys(StorageError, Refusal):
    """The user already has as many active device keys as allowed; revoking one makes room."""

    status, code = 409, "too_many_keys"

    def __init__(self, limit: int) -> None:
        super().__init__(f"You have {limit} active device keys, the most allowed; revoke one to add another.",
                         details=[{"limit": limit}])


@dataclass(frozen=True, slots=True)
class DeviceKey:
    user_id: uuid.UUID
    key_id: str
    public_key: bytes
    created_at: datetime


async def register(db: Database, user_id: uuid.UUID, key_id: str, public_key: bytes, *, limit: int) -> DeviceKey:
    """Add a device key, unless the user already has `limit` active ones.

    The user's row is locked first, so two devices registering at once cannot
    both take the last place.
    """
    try:
        async with db.transaction("device_keys.register") as conn:
            active = await conn.fetchval(
                """SELECT count(*) FROM device_keys k, (SELECT id FROM users WHERE id = $1 FOR UPDATE) u
                   WHERE k.user_id = u.id AND k.revoked_at IS NULL""",
                user_id,
            )
            if active >= limit:
                raise TooManyKeys(limit)
            row = await conn.fetchrow(
                """INSERT INTO device_keys (id, user_id, key_id, public_key) VALUES ($1, $2, $3, $4)
                   RETURNING user_id, key_id, public_key, created_at""",
                uuid.uuid4(), user_id, key_id, public_key,
            )
    except Duplicate as exc:
        raise KeyIdTaken() from exc
    assert row is not None
    return DeviceKey(**dict(row))


async def active_for_users(db: Database, user_ids: list[uuid.UUID]) -> list[DeviceKey]:
    rows = await db.fetch(
        "device_keys.active_for_users",
        """SELECT user_id, key_id, public_key, created_at FROM device_keys
           WHERE user_id = ANY ($1::uuid[]) AND revoked_at IS NULL ORDER BY user_id, created_at""",
        user_ids,
    )
    return [DeviceKey(**dict(r)) for r in rows]


async def revoke(db: Database, user_id: uuid.UUID, key_id: str) -> bool:
    tag = await db.execute(
        "device_keys.revoke",
        "UPDATE device_keys SET revoked_at = now() WHERE user_id = $1 AND key_id = $2 AND revoked_at IS NULL",
        user_id, key_id,
    )
    return tag.endswith(" 1")
