"""Event payloads, validated, and the ack shape every event answers with.

Every client event that takes an ack is answered with `{"ok": true, ...}` or
`{"ok": false, "error": {"code", "message"}}`. Handlers raise `EventError`;
the dispatcher turns it (and validation failures) into that shape.
"""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError

from .interface import EventError, KeyId, Payload, PositiveSeq, Seq

MAX_TEXT_BYTES = 8 * 1024
MAX_CIPHERTEXT_BYTES = 12 * 1024


def _b64(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("must be base64 text or binary")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError("must be valid base64") from None


Blob = Annotated[bytes, BeforeValidator(_b64)]


class ConversationRef(Payload):
    conversation_id: uuid.UUID = Field(strict=False)


class Join(ConversationRef):
    last_seq: Seq = 0
    last_rev: Seq | None = None


class Sealed(Payload):
    """An end-to-end encrypted payload: opaque to the server."""

    ciphertext: Blob = Field(strict=False, max_length=MAX_CIPHERTEXT_BYTES)
    nonce: Blob = Field(strict=False, min_length=24, max_length=24)
    sender_key_id: KeyId


class Text(Payload):
    body: str | None = Field(default=None, min_length=1)
    e2ee: Sealed | None = None

    def checked(self) -> Text:
        if (self.body is None) == (self.e2ee is None):
            raise EventError("invalid_payload", "Send exactly one of body or e2ee.")
        if self.body is not None and len(self.body.encode()) > MAX_TEXT_BYTES:
            raise EventError("payload_too_large", f"Message text is limited to {MAX_TEXT_BYTES} bytes.")
        return self


class Send(Text, ConversationRef):
    client_id: uuid.UUID = Field(strict=False)


class Edit(Text, ConversationRef):
    seq: PositiveSeq


class Delete(ConversationRef):
    seq: PositiveSeq


class Receipt(ConversationRef):
    seq: Seq


class Typing(ConversationRef):
    state: Literal["start", "stop"] = "start"


class PresenceSet(Payload):
    state: Literal["online", "away"]


class AuthRefresh(Payload):
    token: str = Field(min_length=1, max_length=4096)


def parse(model: type[Payload], data: Any) -> Any:
    """Validate an event payload; raise `EventError('invalid_payload')` naming the fields."""
    if not isinstance(data, dict):
        raise EventError("invalid_payload", "The payload must be an object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        fields = ", ".join(".".join(map(str, e["loc"])) or "payload" for e in errors)
        too_long = [e for e in errors if e["type"] in ("string_too_long", "bytes_too_long", "too_long")]
        if too_long:
            limits = ", ".join(f"{'.'.join(map(str, e['loc']))} (at most {e['ctx']['max_length']})" for e in too_long)
            raise EventError("payload_too_large", f"Too large: {limits}.") from None
        raise EventError("invalid_payload", f"Invalid or missing: {fields}.") from None


