"""How messages look to clients: JSON-able dicts, the same in events, acks and REST history."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

from storage.messages import Message

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
