"""What an Engine.IO connection may cost before and around Socket.IO: handshakes, malformed packets, wrong framing.

An Engine.IO connection costs memory from its first request, before the
client has authenticated with a Socket.IO CONNECT. This guard sits between
engineio and python-socketio on one endpoint (it wraps socketio's three
engineio handlers) and:

- caps how many connections may be waiting for their Socket.IO CONNECT, and
  closes those still waiting after the handshake timeout;
- answers a client that speaks the other endpoint's framing (JSON text on the
  msgpack path, or binary on the JSON path) at once with a `connect_error`
  it can read (`wrong_serializer`), then closes it;
- turns a malformed packet into one JSON log line without a traceback, counts
  it, and closes a connection after too many of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from socketio import packet as sio_packet
from socketio.msgpack_packet import MsgPackPacket

log = logging.getLogger(__name__)

# What a malformed packet raises inside python-socketio's decoding and dispatch (JSON, msgpack, shape checks).
PROTOCOL_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError)

Close = Callable[[str, str, str], Awaitable[None]]  # (eio sid, code, message)


class EngineGuard:
    """Handshake bounds, framing check and protocol-error budget for one Socket.IO endpoint."""

    def __init__(
        self, sio: Any, *, binary: bool, close: Close, handshake_timeout: float, max_handshakes: int,
        max_protocol_errors: int,
    ) -> None:
        self._sio = sio
        self._binary = binary
        self._close = close
        self._timeout = handshake_timeout
        self._max_handshakes = max_handshakes
        self._max_errors = max_protocol_errors
        eio = sio.eio
        self._on_connect = eio.handlers["connect"]
        self._on_message = eio.handlers["message"]
        self._on_disconnect = eio.handlers["disconnect"]
        eio.on("connect", self._connect)
        eio.on("message", self._message)
        eio.on("disconnect", self._disconnect)
        self._waiting: dict[str, float] = {}  # eio sid -> handshake deadline (monotonic)
        self._errors: dict[str, int] = {}  # eio sid -> malformed packets so far
        self.protocol_errors = 0
        self.handshakes_refused = 0
        self.handshakes_timed_out = 0

    @property
    def waiting(self) -> int:
        """Engine.IO connections that have not completed their Socket.IO CONNECT."""
        return len(self._waiting)

    async def _connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        if len(self._waiting) >= self._max_handshakes:
            self.handshakes_refused += 1
            if self.handshakes_refused == 1 or self.handshakes_refused % 100 == 0:
                log.warning("engine.io handshake refused: too many pending",
                            extra={"event": "handshakes_full", "count": self.handshakes_refused})
            # engineio answers 401 with this body (the documented REST error shape)
            return {"error": {"code": "too_many_handshakes", "details": {},
                              "message": "The server has too many connections being opened; retry shortly."}}
        self._waiting[eio_sid] = time.monotonic() + self._timeout
        await self._on_connect(eio_sid, environ)
        return None

    async def _message(self, eio_sid: str, data: str | bytes) -> None:
        if eio_sid in self._waiting and isinstance(data, str) == self._binary:
            await self._wrong_serializer(eio_sid)
            return
        try:
            await self._on_message(eio_sid, data)
        except PROTOCOL_ERRORS as exc:
            await self._malformed(eio_sid, exc)
        if eio_sid in self._waiting and self._sio.manager.sid_from_eio_sid(eio_sid, "/") is not None:
            del self._waiting[eio_sid]

    async def _disconnect(self, eio_sid: str, reason: str) -> None:
        self._waiting.pop(eio_sid, None)
        self._errors.pop(eio_sid, None)
        await self._on_disconnect(eio_sid, reason)

    async def _wrong_serializer(self, eio_sid: str) -> None:
        """Refuse in the framing the client does speak, so its `connect_error` says why."""
        if self._binary:
            message = "This path speaks msgpack; JSON clients connect to /socket.io/."
            refusal = sio_packet.Packet(sio_packet.CONNECT_ERROR, {"message": message, "data": {"code": "wrong_serializer"}})
        else:
            message = "This path speaks JSON; msgpack clients connect to /socket.io-msgpack/."
            refusal = MsgPackPacket(sio_packet.CONNECT_ERROR, {"message": message, "data": {"code": "wrong_serializer"}})
        log.info("client refused: wrong serializer", extra={"event": "wrong_serializer", "sid": eio_sid})
        try:
            await self._sio.eio.send(eio_sid, refusal.encode())
        finally:
            await self._close(eio_sid, "wrong_serializer", message)

    async def _malformed(self, eio_sid: str, exc: Exception) -> None:
        self.protocol_errors += 1
        count = self._errors[eio_sid] = self._errors.get(eio_sid, 0) + 1
        log.warning("malformed socket.io packet",
                    extra={"event": "protocol_error", "sid": eio_sid, "error_type": type(exc).__name__, "count": count})
        if count >= self._max_errors:
            await self._close(eio_sid, "protocol_error", "Too many malformed packets.")

    async def expire_handshakes(self) -> None:
        """Close the connections whose Socket.IO CONNECT did not succeed in time."""
        now = time.monotonic()
        late = [sid for sid, deadline in self._waiting.items() if deadline <= now]
        for eio_sid in late:
            self._waiting.pop(eio_sid, None)
            self.handshakes_timed_out += 1
            await self._close(eio_sid, "handshake_timeout", "No successful Socket.IO CONNECT in time.")
        if late:
            log.info("engine.io handshakes timed out", extra={"event": "handshake_timeout", "count": len(late)})
