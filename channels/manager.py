"""The Socket.IO client manager, shared across processes through our event bus.

python-socketio's AsyncRedisManager opens its own Redis connections, gives up
publishing after two attempts, backs off up to 60 s before resubscribing, and
replaces its pub/sub object from the publishing path while the listener still
reads the old one. We reuse its protocol (AsyncPubSubManager: emit, rooms,
remote disconnects and callbacks) but carry it over the runtime's bus, whose
listener reconnects and resubscribes by itself (storage/bus.py) and is tested
against a Redis restart. Without Redis the same code runs over the in-memory
bus in one process.

Local delivery (to this process's sockets) is taken over by the fast broadcast
path (channels/broadcast.py), which shadows `emit` and `_handle_emit` on the
manager instance; this class therefore must not override either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from socketio.async_pubsub_manager import AsyncPubSubManager

from storage.bus import Bus
from storage.bus_messages import SocketIOPacket


class BusManager(AsyncPubSubManager):
    """AsyncPubSubManager whose transport is the runtime bus (one bus channel per Socket.IO endpoint)."""

    name = "klear-bus"

    def __init__(self, serializer: str) -> None:
        super().__init__(channel=SocketIOPacket.channel_for(serializer))
        self._bus: Bus | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def bind(self, bus: Bus) -> None:
        """Attach to the runtime's bus and start listening (called once at start-up)."""
        self._bus = bus
        await bus.subscribe(self.channel, self._receive)
        self.server.manager_initialized = True
        self.initialize()

    async def unbind(self) -> None:
        """Stop the listener task started by `initialize`."""
        task = getattr(self, "thread", None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _receive(self, _: str, data: bytes) -> None:
        self._inbox.put_nowait(SocketIOPacket.decode(data).fields)

    async def _publish(self, data: dict[str, Any]) -> None:
        assert self._bus is not None, "BusManager used before bind()"
        await self._bus.publish(self.channel, SocketIOPacket(data).encode())

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._inbox.get()
