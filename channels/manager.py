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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from socketio.async_pubsub_manager import AsyncPubSubManager

from storage.bus import Bus
from storage.bus_messages import SocketIOPacket


async def _unlinked(channel: str, data: bytes) -> bool:
    raise RuntimeError("Socket.IO manager used outside Hub.serving(): it has no bus to publish on")


class BusManager(AsyncPubSubManager):
    """AsyncPubSubManager whose transport is the runtime bus (one bus channel per Socket.IO endpoint).

    It is created with its Socket.IO server when the app is built (aiohttp's
    routes must exist before it starts) and linked to the bus, which exists
    only while the app runs, for as long as `linked` lasts.
    """

    name = "klear-bus"

    def __init__(self, serializer: str) -> None:
        super().__init__(channel=SocketIOPacket.channel_for(serializer))
        self._send: Callable[[str, bytes], Awaitable[bool]] = _unlinked
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @asynccontextmanager
    async def linked(self, bus: Bus) -> AsyncIterator[None]:
        """Publish on `bus` and listen to it until the block exits."""
        self._send = bus.publish
        await bus.subscribe(self.channel, self._receive)
        self.server.manager_initialized = True
        self.initialize()
        try:
            yield
        finally:
            task = getattr(self, "thread", None)  # the listener task `initialize` started
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _receive(self, _: str, data: bytes) -> None:
        self._inbox.put_nowait(SocketIOPacket.decode(data).fields)

    async def _publish(self, data: dict[str, Any]) -> None:
        await self._send(self.channel, SocketIOPacket(data).encode())

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._inbox.get()
