"""Device keys for end-to-end encrypted conversations."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from pydantic import Field, field_validator

from storage import conversations, device_keys

from ..errors import Conflict, NotFound
from ..routing import Call, Input, Output, RouteTable

routes = RouteTable("e2ee")


class DeviceKeyIn(Input):
    key_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    public_key: str = Field(description="Base64 of the device's 32-byte X25519 public key.")

    @field_validator("public_key")
    @classmethod
    def _x25519(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("must be base64") from None
        if len(raw) != 32:
            raise ValueError("must be a 32-byte X25519 public key")
        return value


class DeviceKeyOut(Output):
    user_id: uuid.UUID
    key_id: str
    public_key: str
    created_at: datetime


class DeviceKeyList(Output):
    keys: list[DeviceKeyOut]


def _out(key: device_keys.DeviceKey) -> DeviceKeyOut:
    return DeviceKeyOut(user_id=key.user_id, key_id=key.key_id, public_key=base64.b64encode(key.public_key).decode(),
                        created_at=key.created_at)


@routes.post("/devices/keys", body=DeviceKeyIn, response=DeviceKeyOut, status=201, errors=(409, 422))
async def register_key(call: Call[DeviceKeyIn]) -> DeviceKeyOut:
    """Register one of your devices' X25519 public keys (at most KLEAR_MAX_DEVICE_KEYS active ones)."""
    try:
        key = await device_keys.register(
            call.runtime.db, call.principal.user_id, call.body.key_id, base64.b64decode(call.body.public_key),
            limit=call.runtime.settings.channels.max_device_keys,
        )
    except device_keys.KeyIdTaken:
        raise Conflict("You already registered a key with this key_id.", code="key_id_taken") from None
    return _out(key)


@routes.delete("/devices/keys/{key_id}", status=204, errors=(404,))
async def revoke_key(call: Call[None]) -> None:
    """Revoke one of your device keys; others stop encrypting to it."""
    if not await device_keys.revoke(call.runtime.db, call.principal.user_id, call.request.match_info["key_id"]):
        raise NotFound("No active key with that key_id.")


@routes.get("/users/{user_id}/keys", response=DeviceKeyList, errors=(404,))
async def user_keys(call: Call[None]) -> DeviceKeyList:
    """The active device keys of a contact (someone you share an accepted conversation with), or your own.
    Audited."""
    user_id, me = call.uuid("user_id"), call.principal.user_id
    if user_id != me:
        if user_id not in await conversations.shared_with(call.runtime.db, me, [user_id]):
            raise NotFound("No user with that id among your contacts.")
        await call.audit("user.keys.read", subject_id=user_id, resource=f"user:{user_id}:keys")
    return DeviceKeyList(keys=[_out(k) for k in await device_keys.active_for_users(call.runtime.db, [user_id])])
