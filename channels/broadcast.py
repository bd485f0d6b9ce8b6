"""Fast Socket.IO broadcast path for python-socketio on aiohttp.

What it does
------------
Stock ``await sio.emit(event, data, room=...)`` (python-socketio 5.18.1 /
python-engineio 4.15.1 / aiohttp 3.14.5) encodes the Socket.IO packet once,
but then, *per recipient*: creates an asyncio task, looks the socket up,
``await queue.put()``\\ s the packet, wakes that socket's writer task (which
``wait_for``\\ s on the queue), and calls ``WebSocketResponse.send_str`` which
UTF-8 encodes the text again, compresses it with permessage-deflate
(negotiated by default whenever the client offers it -- browsers and the
Node ``ws`` client always do) and builds the frame header. See
bench/fanout/README.md for the traced path and profile.

This adapter, installed on one ``socketio.AsyncServer``:

* serves the websocket transport with ``WebSocketResponse(compress=False)``
  (no permessage-deflate, same as the Node reference server's default), and
  writes Engine.IO packets as pre-built frames straight into the connection's
  transport -- no per-socket writer task, no queue hop (``lean`` mode, for
  connections that start on websocket; connections that upgrade from polling
  keep engineio's own handler loop with the same synchronous frame writer);
* replaces the manager's ``emit`` so a broadcast encodes the Socket.IO packet
  once, builds the websocket frame bytes once, and writes the *same bytes*
  into every websocket recipient's transport with no task and no await per
  recipient. Polling clients, sockets mid-upgrade and sockets whose engineio
  queue still holds earlier packets get the packet through engineio's queue
  instead (ordering preserved). Emits with a ``callback`` (per-recipient ack
  ids) go to the stock implementation;
* bounds what a connection may have pending: after each write, if the
  transport's write buffer exceeds ``max_pending_bytes`` (or a polling
  socket's queue exceeds ``max_queued_packets``) the connection is aborted
  and closed with disconnect reason :data:`SLOW_CONSUMER` -- the server's
  ``disconnect(sid, reason)`` handler sees it -- while everybody else keeps
  receiving.

Usage
-----
::

    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=...)
    fast = channels.broadcast.install(sio, app=app, path="socket.io",  # attaches sio
                                      max_pending_bytes=2 * 1024 * 1024)
    ...
    await sio.emit("message:new", msg, room=conversation_room)   # fast path
    fast.stats()           # counters; fast.pending_bytes(eio_sid)
    ...
    await sio.shutdown(); await fast.shutdown()

Call ``install`` once per server, before it accepts connections (existing
connections keep the stock driver). The ``disconnect(sid, reason)`` handler
receives :data:`SLOW_CONSUMER` for evicted connections. Works with the
default ``AsyncManager`` and with ``AsyncPubSubManager`` subclasses (local
delivery on every host goes through the fast path), JSON and msgpack
serializers, websocket and polling clients.

The per-connection driver (lean read loop, direct queue, pinger) lives in
``channels.wire_driver``; frame building in ``channels.wire_frames``.

Library internals used (checked against :data:`TESTED_VERSIONS`; ``install``
refuses other versions unless ``allow_untested_versions=True``):

* engineio ``AsyncServer._async['websocket']`` -- the driver's websocket
  factory. Replaced on *this* server only (the dict is copied), to create the
  ``WebSocketResponse`` without compression and to own the write path.
* engineio ``AsyncSocket``: the handler the driver receives is the bound
  method ``AsyncSocket._websocket_handler``; we use its ``__self__`` and the
  socket's ``sid``, ``queue``, ``connected``, ``upgraded``, ``upgrading``,
  ``closing``, ``closed``, ``receive()``, ``close()`` and ``server``. In lean
  mode ``socket.queue`` is swapped for :class:`_DirectQueue`, which writes on
  ``put`` (engineio only ``put``\\ s on websocket sockets; ``get`` is used by
  the polling transport only).
* engineio heartbeat: lean sockets get their class switched to
  :class:`_LeanSocket` (an ``AsyncSocket`` subclass overriding only
  ``schedule_ping``) so one server-wide :class:`_Pinger` task sends PINGs
  and checks ``last_ping`` for PONG timeouts, instead of one sleeping
  ``_send_ping`` task per socket plus a receive timeout.
* engineio ``AsyncServer.sockets`` (sid -> socket) and ``max_http_buffer_size``
  / ``ping_interval`` / ``ping_timeout`` / ``reason``.
* socketio ``AsyncServer.environ`` (eio sid -> handshake environ), emptied
  per connection by :func:`forget_environ` once the connect handler is done
  with it.
* socketio ``AsyncManager.emit`` is shadowed on the manager *instance*; we use
  ``manager.rooms``, ``manager.get_participants()`` and
  ``server.packet_class``. For an ``AsyncPubSubManager`` subclass (e.g.
  python-socketio's ``AsyncRedisManager``), whose local delivery is a
  ``super().emit`` inside ``emit(ignore_queue=True)`` and ``_handle_emit``,
  those two methods are shadowed on the instance instead, ``_handle_emit``
  being a copy of 5.18.1's with the ``super().emit`` call replaced (the
  subclass must not override either; ``install`` checks).
* direct websocket connects (``install(app=...)``): the GET handler repeats
  what engineio 4.15.1's ``handle_request`` checks for that case
  (transport allowed, ``EIO=4``, CORS origin via ``_cors_allowed_origins``),
  builds the same environ as the driver's ``translate_request`` (with
  interned header keys)
  and what ``_handle_connect`` does (``start_service_task`` /
  ``_service_task``, ``generate_id``, ``sockets``, the OPEN packet,
  ``_trigger_event('connect')``, ``_unauthorized``, ``_make_response``,
  ``schedule_ping``); any other request goes to engineio unchanged.
* aiohttp: only public API -- ``WebSocketResponse(compress=False)``,
  ``request.transport``, ``transport.write/get_write_buffer_size/abort``. We
  write frames next to aiohttp's ``WebSocketWriter`` (which still writes
  pongs and the close frame); that is safe because both write whole
  uncompressed frames synchronously, so frames never interleave, and there
  is no compressor state to corrupt.

Nothing here is module-global: the registry of connections lives on the
:class:`FastBroadcast` object, which is attached to the server it serves.
"""
from __future__ import annotations

import asyncio
import base64
import logging
from functools import partial
from importlib import metadata
from typing import Any

from aiohttp import web
from engineio import packet as _eio_packet
from socketio import packet as _sio_packet

from .wire_driver import _Connection, _LeanSocket, _Pinger, _translate_request
from .wire_frames import frame_packets

__all__ = [
    "FastBroadcast",
    "forget_environ",
    "install",
    "get",
    "SLOW_CONSUMER",
    "TESTED_VERSIONS",
]

logger = logging.getLogger(__name__)

#: Versions whose internals this adapter was written and tested against.
TESTED_VERSIONS = {
    "python-socketio": "5.18.1",
    "python-engineio": "4.15.1",
    "aiohttp": "3.14.5",
}

#: Disconnect reason passed to the Socket.IO ``disconnect`` handler when a
#: connection is dropped for having too much unsent data.
SLOW_CONSUMER = "slow consumer"

_ATTR = "_klear_fast_broadcast"


def _check_versions() -> list[str]:
    bad = []
    for dist, want in TESTED_VERSIONS.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover
            have = None
        if have != want:
            bad.append(f"{dist} {have} (tested: {want})")
    return bad


class FastBroadcast:
    """The fast broadcast path for one ``socketio.AsyncServer``.

    Create it with :func:`install` (before the server accepts connections).
    After that ``await sio.emit(...)`` uses the fast path transparently;
    :meth:`emit` is the same call without going through ``sio.emit``.

    :param max_pending_bytes: a websocket connection whose transport write
        buffer exceeds this many bytes after a write is disconnected with
        reason :data:`SLOW_CONSUMER`.
    :param max_queued_packets: same for the number of Engine.IO packets
        waiting in a (polling, or upgrading) socket's queue.
    :param lean: serve connections that start on websocket with the lean
        loop (no writer task / queue). ``False`` keeps engineio's loop and
        only replaces the frame writer.
    """

    def __init__(self, sio: Any, *, max_pending_bytes: int = 2 * 1024 * 1024,
                 max_queued_packets: int = 4096, lean: bool = True) -> None:
        self.sio = sio
        self.max_pending_bytes = int(max_pending_bytes)
        self.max_queued_packets = int(max_queued_packets)
        self.lean = lean
        self._conns: dict[str, _Connection] = {}  # eio sid -> connection
        self._evicting: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._pinger = _Pinger(self)
        self._stock_emit = None
        # counters (cheap ints; read them via stats())
        self.broadcasts = 0
        self.direct_writes = 0
        self.queued_writes = 0
        self.evictions = 0

    # -- installation --------------------------------------------------
    def _install(self) -> None:
        import socketio
        sio = self.sio
        if not isinstance(sio, socketio.AsyncServer):
            raise TypeError("FastBroadcast needs a socketio.AsyncServer")
        if sio.async_mode != "aiohttp":
            raise TypeError(f"FastBroadcast supports async_mode='aiohttp' "
                            f"only, not {sio.async_mode!r}")
        from socketio.async_pubsub_manager import AsyncPubSubManager
        mgr = sio.manager
        cls = type(mgr)
        if cls is socketio.AsyncManager:
            pubsub = False
        elif isinstance(mgr, AsyncPubSubManager):
            # local delivery happens in AsyncPubSubManager.emit(ignore_queue)
            # and ._handle_emit via super().emit; both are replaced on the
            # instance, so a subclass must not override them itself
            for name in ("emit", "_handle_emit"):
                if getattr(cls, name) is not getattr(AsyncPubSubManager, name):
                    raise TypeError(
                        f"{cls.__name__} overrides {name}(); FastBroadcast "
                        f"replaces AsyncPubSubManager.{name} and would bypass it")
            pubsub = True
        else:
            raise TypeError(
                f"FastBroadcast supports socketio.AsyncManager and "
                f"AsyncPubSubManager subclasses only, not {cls.__name__}")
        if getattr(sio, _ATTR, None) is not None:
            raise RuntimeError("FastBroadcast is already installed on this server")
        eio = sio.eio
        drivers = dict(eio._async)  # per-server copy; never touch the shared dict
        drivers["websocket"] = partial(_Connection, self)
        eio._async = drivers
        # the stock local delivery, whatever the manager class
        self._stock_emit = partial(socketio.AsyncManager.emit, mgr)
        if pubsub:
            mgr.emit = partial(self._pubsub_emit, mgr)
            mgr._handle_emit = partial(self._pubsub_handle_emit, mgr)
        else:
            mgr.emit = self._manager_emit
        setattr(sio, _ATTR, self)
        setattr(eio, _ATTR, self)  # for _LeanSocket.schedule_ping

    def uninstall(self) -> None:
        """Restore stock emit for new broadcasts and the stock websocket
        driver for new connections (existing connections keep this one)."""
        sio = self.sio
        if getattr(sio, _ATTR, None) is not self:
            return
        from engineio.async_drivers import aiohttp as eio_aiohttp
        drivers = dict(sio.eio._async)
        drivers["websocket"] = eio_aiohttp._async["websocket"]
        sio.eio._async = drivers
        # drop the instance attributes -> class methods again
        sio.manager.__dict__.pop("emit", None)
        sio.manager.__dict__.pop("_handle_emit", None)
        delattr(sio, _ATTR)
        # lean sockets still alive keep using this object's pinger


    # -- direct websocket connects (optional, needs the aiohttp app) ----
    def attach(self, app: web.Application, path: str) -> None:
        """Attach the server to ``app`` at ``/<path>/`` (instead of
        ``sio.attach``): GET goes through :meth:`_connect_handler`, POST and
        OPTIONS (polling) straight to engineio. Being the route's own handler
        rather than a middleware, it costs other routes nothing."""
        endpoint = "/" + path.strip("/") + "/"
        eio = self.sio.eio
        get = self._connect_handler() if self.lean else eio.handle_request
        app.router.add_get(endpoint, get)
        app.router.add_post(endpoint, eio.handle_request)
        app.router.add_route("OPTIONS", endpoint, eio.handle_request)

    def _connect_handler(self):
        """GET handler serving ``?EIO=4&transport=websocket`` (a client
        connecting straight over websocket, no sid) without engineio's
        ``handle_request`` -> ``_handle_connect`` -> ``handle_get_request`` ->
        ``_upgrade_websocket`` chain, whose four suspended coroutine frames,
        OPEN packet and parsed query stay alive for the whole connection
        (~2 KiB each). Everything else -- polling, upgrades, requests
        engineio would reject -- goes to engineio."""
        eio = self.sio.eio
        sio = self.sio

        async def fast_socketio_connect(request):
            handler = eio.handle_request
            if (getattr(sio, _ATTR, None) is not self  # uninstalled
                    or request.headers.get("Upgrade", "").lower() != "websocket"
                    or "websocket" not in eio.transports):
                return await handler(request)
            q = request.query
            if (q.get("transport") != "websocket" or q.get("EIO") != "4"
                    or "sid" in q or "j" in q):
                return await handler(request)
            del q
            environ = _translate_request(request)
            if eio.cors_allowed_origins != []:
                origin = environ.get("HTTP_ORIGIN")
                if origin:
                    allowed = eio._cors_allowed_origins(environ)
                    if allowed is not None and origin not in allowed:
                        return await handler(request)  # engineio's 400
            # == engineio AsyncServer._handle_connect(environ, "websocket")
            if eio.start_service_task:
                eio.start_service_task = False
                eio.service_task_handle = eio.start_background_task(
                    eio._service_task)
            sid = eio.generate_id()
            sock = _LeanSocket(eio, sid)
            eio.sockets[sid] = sock
            await sock.send(_eio_packet.Packet(_eio_packet.OPEN, {
                "sid": sid,
                "upgrades": [],
                "pingTimeout": int(eio.ping_timeout * 1000),
                "pingInterval": int(
                    eio.ping_interval + eio.ping_interval_grace_period) * 1000,
                "maxPayload": eio.max_http_buffer_size,
            }))
            ret = await eio._trigger_event("connect", sid, environ,
                                           run_async=False)
            if ret is not None and ret is not True:
                del eio.sockets[sid]
                eio.logger.warning("Application rejected connection")
                return await eio._make_response(
                    eio._unauthorized(ret or None), environ)
            sock.schedule_ping()
            try:
                return await _Connection(self, None, eio, sock)(environ)
            finally:
                if sock.closed and sid in eio.sockets:
                    del eio.sockets[sid]

        return fast_socketio_connect

    # -- public API ----------------------------------------------------
    async def emit(self, event: str, data: Any = None, *, to: Any = None,
                   room: Any = None, skip_sid: Any = None,
                   namespace: str | None = None, callback: Any = None) -> None:
        """Same as ``AsyncServer.emit`` (minus message-queue options)."""
        await self._manager_emit(event, data, namespace or "/", room=room,
                                 skip_sid=skip_sid, callback=callback, to=to)

    async def shutdown(self) -> None:
        """Stop the heartbeat task and pending evictions (call it next to
        ``await sio.shutdown()``)."""
        tasks = [t for t in (self._pinger.task, *self._tasks) if t is not None]
        self._pinger.pings.clear()
        self._pinger.deadlines.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def abort_all(self) -> int:
        """Drop every websocket connection now (process shutdown, after the
        goodbyes were written): graceful shutdown must not wait for clients
        that are slow to finish the close handshake. Returns how many."""
        conns = list(self._conns.values())
        for conn in conns:
            conn._abort()
        return len(conns)

    def stats(self) -> dict[str, int]:
        return {
            "websocket_connections": len(self._conns),
            "broadcasts": self.broadcasts,
            "direct_writes": self.direct_writes,
            "queued_writes": self.queued_writes,
            "evictions": self.evictions,
        }

    def pending_bytes(self, eio_sid: str) -> int | None:
        """Bytes waiting in a websocket connection's transport buffer."""
        conn = self._conns.get(eio_sid)
        if conn is None or conn.transport is None:
            return None
        return conn.transport.get_write_buffer_size()

    # -- pub/sub managers ------------------------------------------------
    async def _pubsub_emit(self, mgr, event, data, namespace=None, room=None,
                           skip_sid=None, callback=None, to=None, **kwargs):
        """``AsyncPubSubManager.emit`` with local delivery on the fast path:
        ``ignore_queue`` emits are delivered here directly, the others go
        through the stock method, which publishes to the other hosts and
        calls ``self._handle_emit`` (ours) for this one."""
        from socketio.async_pubsub_manager import AsyncPubSubManager
        if kwargs.get("ignore_queue"):
            return await self._manager_emit(
                event, data, namespace or "/", room=to or room,
                skip_sid=skip_sid, callback=callback)
        return await AsyncPubSubManager.emit(
            mgr, event, data, namespace=namespace, room=room,
            skip_sid=skip_sid, callback=callback, to=to, **kwargs)

    async def _pubsub_handle_emit(self, mgr, message):
        """``AsyncPubSubManager._handle_emit`` (python-socketio 5.18.1) with
        ``super().emit`` replaced by the fast local delivery."""
        from socketio.packet import Packet
        remote_callback = message.get("callback")
        remote_host_id = message.get("host_id")
        if remote_callback is not None and len(remote_callback) == 3:
            callback = partial(mgr._return_callback, remote_host_id,
                               *remote_callback)
        else:
            callback = None
        data = message["data"]
        if message.get("binary"):
            attachments = [base64.b64decode(a) for a in data[1:]]
            data = Packet.reconstruct_binary(data[0], attachments)
        if isinstance(data, list):
            if len(data) == 1:
                data = data[0]
            else:
                data = tuple(data)
        await self._manager_emit(message["event"], data,
                                 message.get("namespace") or "/",
                                 room=message.get("room"),
                                 skip_sid=message.get("skip_sid"),
                                 callback=callback)

    # -- the emit replacement -----------------------------------------
    async def _manager_emit(self, event, data, namespace, room=None,
                            skip_sid=None, callback=None, to=None, **kwargs):
        if callback is not None:
            # every recipient needs its own ack id: stock path
            return await self._stock_emit(event, data, namespace, room=room,
                                          skip_sid=skip_sid,
                                          callback=callback, to=to, **kwargs)
        sio = self.sio
        manager = sio.manager
        room = to or room
        if namespace not in manager.rooms:
            return
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        if skip_sid is None:
            skip = ()
        elif isinstance(skip_sid, (list, tuple, set, frozenset)):
            skip = set(skip_sid)
        else:
            skip = (skip_sid,)

        eio_packet = _eio_packet
        sio_packet = _sio_packet
        encoded = sio.packet_class(sio_packet.EVENT, namespace=namespace,
                                   data=[event] + data).encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        eio_pkts = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        wire = frame_packets([p.encode() for p in eio_pkts])
        self.broadcasts += 1

        # engineio's Packet.encode() caches its first result whatever ``b64``
        # was: a binary packet encoded raw for a websocket must never be
        # handed to a polling socket (which needs base64) -- so queued
        # recipients of binary packets get their own Packet objects.
        shareable = not any(p.binary for p in eio_pkts)
        sockets = sio.eio.sockets
        conns = self._conns
        evicting = self._evicting
        limit = self.max_pending_bytes
        direct = 0
        queued = 0
        for sid, eio_sid in manager.get_participants(namespace, room):
            if sid in skip or eio_sid in evicting:
                continue
            conn = conns.get(eio_sid)
            if conn is not None and not conn.dead:
                s = conn.sock
                if s.closed or s.closing:
                    continue
                if s.upgraded and not s.upgrading and s.queue.empty():
                    tr = conn.transport
                    if tr.is_closing():
                        continue
                    tr.write(wire)
                    direct += 1
                    if tr.get_write_buffer_size() > limit:
                        self._evict(s, conn, tr.get_write_buffer_size())
                    continue
            else:
                s = sockets.get(eio_sid)
                if s is None or s.closed or s.closing:
                    continue
            # polling, mid-upgrade, or engineio's queue still busy: keep order
            q = s.queue
            if q.qsize() + len(eio_pkts) > self.max_queued_packets:
                self._evict(s, conn, None)
                continue
            if shareable:
                for p in eio_pkts:
                    q.put_nowait(p)
            else:
                for p in eio_pkts:
                    q.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, p.data))
            queued += 1
        self.direct_writes += direct
        self.queued_writes += queued

    async def _drop(self, sock: Any, reason: str) -> None:
        """Abort a socket's transport (if websocket) and close it with
        ``reason``; used for ping timeouts."""
        conn = self._conns.get(sock.sid)
        if conn is not None:
            conn._abort()
        if not sock.closed and not sock.closing:
            await sock.close(wait=False, abort=True, reason=reason)

    # -- slow consumers -------------------------------------------------
    def _evict(self, sock: Any, conn: _Connection | None,
               pending: int | None) -> None:
        sid = sock.sid
        if sid in self._evicting or sock.closed or sock.closing:
            return
        self._evicting.add(sid)
        self.evictions += 1
        if conn is not None:
            conn.dead = True  # stop writing to it right now
        logger.warning(
            "disconnecting %s: %s (pending %s bytes, %s queued packets)",
            sid, SLOW_CONSUMER, pending, sock.queue.qsize())
        task = asyncio.ensure_future(self._close_slow(sock, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_slow(self, sock: Any, conn: _Connection | None) -> None:
        try:
            if conn is not None and conn.transport is not None:
                # drop the unsent bytes at once; the reader loop ends with it
                conn.transport.abort()
            else:
                q = sock.queue
                while not q.empty():
                    q.get_nowait()
                    q.task_done()
                q.put_nowait(None)  # release a pending long-poll GET
            # runs synchronously up to its first await, so the socket is
            # "closing" before the reader loop can report "transport close"
            await sock.close(wait=False, abort=True, reason=SLOW_CONSUMER)
        except Exception:  # pragma: no cover
            logger.exception("error while disconnecting slow consumer %s",
                             sock.sid)
        finally:
            self._evicting.discard(sock.sid)


def install(sio: Any, *, app: web.Application | None = None,
            path: str = "socket.io",
            max_pending_bytes: int = 2 * 1024 * 1024,
            max_queued_packets: int = 4096, lean: bool = True,
            allow_untested_versions: bool = False) -> FastBroadcast:
    """Install the fast broadcast path on ``sio`` and return it.

    Call once per server, before the web app starts serving (connections
    opened earlier keep the stock driver). With ``app``, this also attaches
    ``sio`` to it at ``path`` (do not call ``sio.attach`` too): with ``lean``,
    clients connecting straight over websocket are accepted by the route's
    own handler, which skips engineio's request-handling chain and saves
    ~2 KiB per idle connection. Without ``app``, attach ``sio`` yourself and
    such connects go through engineio as usual.
    """
    bad = _check_versions()
    if bad:
        msg = ("channels.broadcast relies on library internals tested only "
               "with " + ", ".join(f"{k}=={v}" for k, v in TESTED_VERSIONS.items())
               + "; installed: " + ", ".join(bad))
        if not allow_untested_versions:
            raise RuntimeError(msg)
        logger.warning(msg)
    fb = FastBroadcast(sio, max_pending_bytes=max_pending_bytes,
                       max_queued_packets=max_queued_packets, lean=lean)
    fb._install()
    if app is not None:
        fb.attach(app, path)
    return fb


def forget_environ(sio: Any, sid: str, namespace: str = "/") -> None:
    """Drop the handshake environ socketio keeps per connection (``sio.environ``).

    socketio reads it only while a namespace connects; with a single
    namespace (``namespaces=['/']``, the default) a second CONNECT is refused
    before it is read, and disconnect tolerates its absence. It holds the
    headers and request, a few KiB per idle connection, so a connect handler
    that has authenticated the client can let it go.
    """
    eio_sid = sio.manager.eio_sid_from_sid(sid, namespace)
    if eio_sid is not None:
        sio.environ.pop(eio_sid, None)


def get(sio: Any) -> FastBroadcast | None:
    """The :class:`FastBroadcast` installed on ``sio``, if any."""
    return getattr(sio, _ATTR, None)
