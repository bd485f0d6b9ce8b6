"""How messages look to clients (JSON-able dicts) and between processes (sealed msgpack)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from typing import Any

import msgpack

from storage.crypto import Sealer
from storage.messages import Message

_BUS_CONTEXT = "bus.chat"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value is not None else None


def message_json(m: Message) -> dict[str, Any]:
    """A message as clients receive it (events, acks and REST history alike)."""
    out: dict[str, Any] = {
        "conversation_id": str(m.conversation_id),
        "seq": m.seq,
        "rev": m.rev,
        "id": str(m.id),
        "sender_id": str(m.sender_id),
        "client_id": str(m.client_id),
        "created_at": _iso(m.created_at),
        "edited_at": _iso(m.edited_at),
        "deleted": m.deleted_at is not None,
    }
    out["body"] = m.body
    out["e2ee"] = None if m.ciphertext is None else {
        "ciphertext": base64.b64encode(m.ciphertext).decode(),
        "nonce": base64.b64encode(m.nonce or b"").decode(),
        "sender_key_id": m.sender_key_id,
    }
    return out


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def pack(sealer: Sealer, kind: str, m: Message) -> bytes:
    """A committed message for the bus, sealed: Redis never sees message text."""
    raw = msgpack.packb([
        kind, m.conversation_id.bytes, m.seq, m.rev, m.id.bytes, m.sender_id.bytes, m.client_id.bytes, m.body,
        m.ciphertext, m.nonce, m.sender_key_id, _ts(m.created_at), _ts(m.edited_at), _ts(m.deleted_at),
    ])
    return sealer.seal(raw, _BUS_CONTEXT)


def unpack(sealer: Sealer, data: bytes) -> tuple[str, Message]:
    f = msgpack.unpackb(sealer.open(data, _BUS_CONTEXT))
    message = Message(
        conversation_id=uuid.UUID(bytes=f[1]), seq=f[2], rev=f[3], id=uuid.UUID(bytes=f[4]),
        sender_id=uuid.UUID(bytes=f[5]), client_id=uuid.UUID(bytes=f[6]), body=f[7], ciphertext=f[8], nonce=f[9],
        sender_key_id=f[10], created_at=_dt(f[11]) or datetime.now(timezone.utc), edited_at=_dt(f[12]),
        deleted_at=_dt(f[13]),
    )
    return f[0], message
