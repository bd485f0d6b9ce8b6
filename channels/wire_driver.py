"""The engine.io side of the fast path: serving one websocket connection without per-socket tasks.

`channels.broadcast` installs these on a server; this module holds what runs
per connection: the lean read loop that replaces engineio's websocket
handler (no writer task, no queue hop, no task and timeout per receive), the
queue stand-in that writes frames synchronously and enforces the pending-bytes
bound, one server-wide pinger instead of a ping task per socket, and the
translation of an aiohttp request into engineio's environ. The library
internals it relies on, and the versions they are checked against, are listed
in `channels.broadcast`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from engineio import async_socket as _eio_async_socket
from engineio import exceptions as _eio_exc
from engineio import packet as _eio_packet

from .wire_frames import frame_message

if TYPE_CHECKING:
    from .broadcast import FastBroadcast

logger = logging.getLogger("channels.broadcast")

def _translate_request(request: web.Request) -> dict:
    """engineio's aiohttp ``translate_request`` (4.15.1), except that the
    ``HTTP_*`` keys are interned: the environ lives as long as the connection
    (socketio keeps it for ``get_environ``), and with a browser's dozen-odd
    handshake headers per-connection copies of the same key strings cost
    ~1 KiB each. Values are the header strings aiohttp already holds."""
    import sys
    environ = {
        "wsgi.input": request.content,
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "aiohttp",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string or "",
        "RAW_URI": request.path_qs,
        "SERVER_PROTOCOL": f"HTTP/{request.version[0]}.{request.version[1]}",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "aiohttp",
        "SERVER_PORT": "0",
        "aiohttp.request": request,
    }
    intern = sys.intern
    for hdr_name, hdr_value in request.headers.items():
        hdr_name = hdr_name.upper()
        if hdr_name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = hdr_value
            continue
        elif hdr_name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = hdr_value
            continue
        key = intern("HTTP_" + hdr_name.replace("-", "_"))
        if key in environ:
            hdr_value = f"{environ[key]},{hdr_value}"
        environ[key] = hdr_value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    environ["PATH_INFO"] = request.path
    environ["SCRIPT_NAME"] = ""
    return environ


class _DirectQueue:
    """Stand-in for an engineio websocket socket's ``asyncio.Queue``.

    engineio ``put``\\ s every outgoing packet (OPEN, pings, acks, unicast
    emits, CLOSE) on ``socket.queue`` and a per-socket writer task drains it.
    In lean mode there is no writer task: ``put`` frames and writes at once.
    ``None`` (engineio's "stop the writer" sentinel) is ignored.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: "_Connection") -> None:
        self._conn = conn

    def put_nowait(self, pkt: Any) -> None:
        if pkt is not None:
            self._conn.write(frame_message(pkt.encode()))
            if pkt.packet_type == _eio_packet.CLOSE:
                self._conn.closing_grace()

    async def put(self, pkt: Any) -> None:
        self.put_nowait(pkt)

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    def full(self) -> bool:
        return False

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        pass

    def get_nowait(self) -> Any:
        raise asyncio.QueueEmpty

    async def get(self) -> Any:  # pragma: no cover - polling only
        raise RuntimeError("websocket-only socket has no readable queue")


class _LeanSocket(_eio_async_socket.AsyncSocket):
    """engineio ``AsyncSocket`` whose heartbeat is driven by the server-wide
    :class:`_Pinger` instead of one sleeping ``_send_ping`` task per socket.
    Only the class of sockets served by the lean loop is switched to this;
    it adds no instance state."""

    def schedule_ping(self):
        if self.last_ping:
            self.last_ping = None
            self.server._klear_fast_broadcast._pinger.schedule(self)


class _Pinger:
    """One task for the Engine.IO heartbeat of every lean socket.

    engineio sends PING ``ping_interval`` seconds after each PONG and gives
    the client ``ping_timeout`` seconds to answer. All sockets share both
    values, so due times arrive in FIFO order and two deques suffice: PINGs
    to send, and PONG deadlines to check. A missed deadline closes the socket
    with reason ``ping timeout`` and aborts its transport (this replaces the
    stock loop's per-receive timeout as the dead-peer detector).
    """

    def __init__(self, fb: "FastBroadcast") -> None:
        self.fb = fb
        self.pings: deque = deque()      # (monotonic due, socket)
        self.deadlines: deque = deque()  # (monotonic due, socket, last_ping stamp)
        self.task: asyncio.Task | None = None

    def schedule(self, sock: Any) -> None:
        self.pings.append((time.monotonic() + sock.server.ping_interval, sock))
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while self.pings or self.deadlines:
                now = time.monotonic()
                while self.pings and self.pings[0][0] <= now:
                    _, sock = self.pings.popleft()
                    if sock.closing or sock.closed:
                        continue
                    sock.last_ping = stamp = time.time()
                    try:
                        await sock.send(_eio_packet.Packet(_eio_packet.PING))
                    except Exception:  # pragma: no cover
                        logger.exception("ping to %s failed", sock.sid)
                    self.deadlines.append(
                        (now + sock.server.ping_timeout, sock, stamp))
                while self.deadlines and self.deadlines[0][0] <= now:
                    _, sock, stamp = self.deadlines.popleft()
                    if sock.last_ping == stamp:  # no PONG since that PING
                        try:
                            await self.fb._drop(
                                sock, sock.server.reason.PING_TIMEOUT)
                        except Exception:  # pragma: no cover
                            logger.exception("dropping %s failed", sock.sid)
                heads = [q[0][0] for q in (self.pings, self.deadlines) if q]
                if heads:
                    # new entries are always due later than the heads, but
                    # wake at least once a second anyway
                    await asyncio.sleep(min(1.0, max(0.0, min(heads) - time.monotonic())))
        finally:
            self.task = None


class _Connection:
    """One websocket connection served by the fast driver.

    Plays engineio's driver role (``__call__``, ``send``, ``wait``,
    ``close``) and owns the synchronous, bounded frame write.
    """

    __slots__ = ("fb", "handler", "server", "ws", "transport", "sock", "dead",
                 "grace")

    def __init__(self, fb: "FastBroadcast", handler: Any, server: Any,
                 sock: Any = None) -> None:
        self.fb = fb
        self.handler = handler
        self.server = server
        self.ws: web.WebSocketResponse | None = None
        self.transport: asyncio.Transport | None = None
        # engineio AsyncSocket: the driver is handed its bound
        # _websocket_handler; the direct route passes the socket itself
        self.sock = sock if sock is not None else handler.__self__
        self.dead = False
        self.grace = None

    # -- engineio driver interface ------------------------------------
    async def __call__(self, environ: dict) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        ws = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False)
        await ws.prepare(request)
        self.ws = ws
        self.transport = request.transport
        sock = self.sock
        conns = self.fb._conns
        conns[sock.sid] = self
        try:
            if not self.fb.lean or sock.connected:
                # polling -> websocket upgrade: engineio's own loop, our send()
                await self.handler(self)
                return ws
            # Lean loop: equivalent of AsyncSocket._websocket_handler for a
            # socket that connected directly over websocket, without the
            # writer task, the queue hop, the task + timeout per receive and
            # (via _Pinger) the sleeping ping task of the stock loop. Inlined
            # here rather than awaited: one coroutine frame less per idle
            # connection.
            server = self.server
            sock.connected = True
            sock.upgraded = True
            sock.__class__ = _LeanSocket
            pending = sock.queue  # holds the OPEN packet (and maybe more)
            sock.queue = _DirectQueue(self)
            while not pending.empty():
                pkt = pending.get_nowait()
                if pkt is not None:
                    sock.queue.put_nowait(pkt)
            del pending
            max_size = server.max_http_buffer_size
            while True:
                # no receive timeout: dead peers are found by the _Pinger
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    data = msg.data
                else:
                    break  # CLOSE / CLOSING / CLOSED / ERROR
                # An empty text frame is no Engine.IO packet; an empty binary frame is a valid (empty) attachment.
                if (not data and msg.type is WSMsgType.TEXT) or len(data) > max_size:
                    break
                try:
                    pkt = _eio_packet.Packet(encoded_packet=data)
                except Exception:
                    server.logger.info("%s: invalid packet, closing", sock.sid)
                    break
                try:
                    await sock.receive(pkt)
                except _eio_exc.UnknownPacketError:  # pragma: no cover
                    pass
                except _eio_exc.SocketIsClosedError:  # pragma: no cover
                    break
                except Exception:  # pragma: no cover
                    server.logger.exception("Unknown receive error")
                if sock.closed:
                    break  # the client sent CLOSE (or we closed): end the websocket now, not at a timeout
            self.dead = True
            try:
                await ws.close()
            except Exception:  # pragma: no cover
                pass
            await sock.close(wait=False, abort=True,
                             reason=server.reason.TRANSPORT_CLOSE)
            return ws
        finally:
            self.dead = True
            if self.grace is not None:
                self.grace.cancel()
                self.grace = None
            if conns.get(sock.sid) is self:
                del conns[sock.sid]

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, message: str | bytes) -> None:
        if self.dead or self.transport.is_closing():
            raise ConnectionResetError("websocket is closed")
        self.write(frame_message(message))

    async def wait(self) -> str | bytes:
        msg = await self.ws.receive()
        if not isinstance(msg.data, (bytes, str)):
            raise OSError()
        return msg.data

    def closing_grace(self) -> None:
        """engineio wrote its CLOSE packet: the client should now close the
        websocket; if it has not after ``ping_timeout`` seconds, drop it
        (stock engineio gets the same effect from its writer's queue
        timeout)."""
        if self.grace is None and self.transport is not None:
            self.grace = asyncio.get_running_loop().call_later(
                self.server.ping_timeout, self._abort)

    def _abort(self) -> None:
        self.dead = True
        if self.transport is not None:
            self.transport.abort()

    # -- fast path -----------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write frame bytes now; evict if too much is pending."""
        if self.dead:
            return
        tr = self.transport
        if tr.is_closing():
            return
        tr.write(data)
        if tr.get_write_buffer_size() > self.fb.max_pending_bytes:
            self.fb._evict(self.sock, self, tr.get_write_buffer_size())
