"""What other components may use of channels: the socket hub, as a Protocol, and its payload and error types.

rtc signals over our Socket.IO but must not depend on how channels works
inside; it codes against `SocketHub` and `Socket` here, which `Hub`
(channels/hub.py) and `Conn` implement (an import-linter contract in
pyproject.toml keeps rtc to this module). Tests of rtc use the same protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from storage.errors import Refusal

MAX_BIGINT = 2**63 - 1

# The field types every payload's integers use, so that no number a client sends can
# overflow a PostgreSQL bigint further in: out of range is `invalid_payload` at the boundary.
Seq = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
"""A sequence number, revision or position a client echoes back (0: none yet)."""
PositiveSeq = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
"""The seq of one existing item (seqs start at 1)."""
KeyId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
"""A device key id, as registered over REST (`POST /devices/keys`)."""


class Payload(BaseModel):
    """Base of every client event's payload: strict types, unknown fields refused, immutable.

    Integer fields use `Seq`/`PositiveSeq` or another upper bound: tests/channels/test_payload_fuzz.py
    checks every registered event's model for unbounded integers.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EventError(Refusal):
    """An event refused with a stable code; `extra` fields (such as `retry_after`) go into the ack's error."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message, code=code)
        self.extra = extra


def ok(**fields: Any) -> dict[str, Any]:
    """A successful ack."""
    return {"ok": True, **fields}


def refusal_ack(refusal: Refusal) -> dict[str, Any]:
    """The one place a refusal of any domain becomes a Socket.IO ack (rtc renders an owner's answers with it too,
    since they travel between processes as data)."""
    error: dict[str, Any] = {"code": refusal.code, "message": refusal.message}
    if refusal.details:
        error["details"] = refusal.details
    if isinstance(refusal, EventError):
        error.update(refusal.extra)
    return {"ok": False, "error": error}


class Socket(Protocol):
    """One connected, authenticated socket."""

    @property
    def sid(self) -> str: ...

    @property
    def user_id(self) -> uuid.UUID: ...


P = TypeVar("P", bound=Payload)
EventHandler = Callable[[Any, Any], Awaitable[dict[str, Any]]]
DisconnectHandler = Callable[[Any], Awaitable[None]]


class SocketHub(Protocol):
    """Who is this socket, handle an event, hear of a disconnect, emit to a socket, refuse (raise EventError)."""

    def on(self, event: str, model: type[Payload], handler: EventHandler) -> None:
        """Handle client event `event`: `handler(socket, payload)` returns the ack; raising a Refusal refuses it."""

    def on_disconnect(self, callback: DisconnectHandler) -> None:
        """Call `callback(socket)` after a socket of this process disconnects."""

    async def emit_local(self, event: str, data: Any, to: str | list[str]) -> None:
        """Send `event` to sockets (or rooms) of this process."""
