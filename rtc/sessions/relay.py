"""Signalling between processes: requests to a session's owner, and events back to a socket's process.

Why relay rather than route: every process shares one port (SO_REUSEPORT) or
sits behind one load balancer, so a socket cannot be sent to the process that
hosts its session. Media needs no routing at all (ICE candidates in the
owner's offer point at the owner's own UDP ports); only the signalling has to
cross over. So the process holding the socket (the edge) sends the owner
requests (join, answer, candidate, publish, ...) and awaits a reply, and the
owner sends the edge the events for that socket (offers, room events).

Each process listens on its own bus channel ``rtc:<process id>``. Messages
(``storage.bus_messages``: ``RtcRequest``, ``RtcReply``, ``RtcEmit``) are
msgpack, sealed with the data key like chat on the bus, because SDP carries
the participants' IP addresses: Redis never sees them in clear. Requests from
one socket arrive one at a time (its edge awaits each reply before the next
event of that socket is read), so per-participant order holds; requests of
different participants run concurrently. Events to a socket are delivered
inline, in the order the owner sent them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from storage.bus import Bus
from storage.bus_messages import RtcEmit, RtcReply, RtcRequest, decode_rtc, rtc_channel
from storage.crypto import Sealer

log = logging.getLogger(__name__)

RequestHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
EmitHandler = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class RelayError(Exception):
    """The other process did not answer (gone, or the bus is down)."""


class Relay:
    """This process's end of the signalling relay."""

    def __init__(
        self, bus: Bus, sealer: Sealer, process_id: str, on_request: RequestHandler, on_emit: EmitHandler
    ) -> None:
        self.process_id = process_id
        self._bus = bus
        self._sealer = sealer
        self._on_request = on_request
        self._on_emit = on_emit
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._bus.subscribe(rtc_channel(self.process_id), self._receive)

    async def stop(self) -> None:
        """Fail calls in flight and wait for requests being handled here."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RelayError("relay stopped"))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def call(self, process_id: str, op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send request `op` to `process_id` and return its ack; raises `RelayError` without one in time."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            sent = await self._send(process_id, RtcRequest(request_id, self.process_id, op, args))
            if not sent:
                raise RelayError("the bus did not take the request")
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise RelayError(f"no answer to {op} within {timeout:g} s") from None
        finally:
            self._pending.pop(request_id, None)

    async def emit(self, process_id: str, sid: str, event: str, data: dict[str, Any]) -> bool:
        """Have `process_id` deliver `event` to its socket `sid`."""
        return await self._send(process_id, RtcEmit(sid, event, data))

    async def _send(self, process_id: str, message: RtcRequest | RtcReply | RtcEmit) -> bool:
        return await self._bus.publish(rtc_channel(process_id), message.encode(self._sealer))

    async def _receive(self, _: str, data: bytes) -> None:
        message = decode_rtc(self._sealer, data)
        if isinstance(message, RtcEmit):
            await self._on_emit(message.sid, message.event, message.data)
        elif isinstance(message, RtcReply):
            future = self._pending.get(message.request_id)
            if future is not None and not future.done():
                future.set_result(message.ack)
        else:
            task = asyncio.create_task(self._answer(message), name="rtc-relay-request")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: RtcRequest) -> None:
        try:
            ack = await self._on_request(request.op, request.args)
        except Exception:
            log.exception("relayed request failed", extra={"event": "rtc_relay_failed", "code": request.op})
            ack = {"ok": False, "error": {"code": "internal_error", "message": "Something went wrong on our side."}}
        await self._send(request.sender, RtcReply(request.request_id, ack))
