"""This process's Socket.IO: its endpoints, its connected sockets, and the table of event handlers.

The hub is built with the app, because Socket.IO's routes must be on the
router before aiohttp freezes it; the services that handle events (chat,
presence, live bookings, session checks, the "available now" marker, and
video from rtc) register with it. It admits sockets only while `serving` (entered in the app's lifespan,
once the bus and the token check exist) and closes them all when that ends.
What a connection may cost is bounded here (sockets per user) and in each
endpoint's guard (handshakes, malformed packets; channels/engine_guard.py).
It implements `channels.interface.SocketHub`.

Events for other processes' sockets never go through Socket.IO's own
cross-process manager, which every process would hear. Each endpoint has
python-socketio's local manager; what must cross processes travels on a routed
bus channel that only the processes concerned listen to: a user's channel
(`push`: notifications, contacts' presence) is heard wherever that user has a
socket, and a conversation's (channels/chat.py) wherever a socket joined it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import socketio
from aiohttp import web

from storage.bus import Bus
from storage.bus_messages import PUSHES, PushToMany, UserPush, user_channel
from storage.errors import Refusal, StorageError

from . import broadcast, wire_json
from .broadcast import FastBroadcast
from .connections import Conn, Connections
from .engine_guard import EngineGuard
from .identity import Authenticate, Identity
from .interface import EventError, Payload, refusal_ack
from .payloads import parse
from .settings import ChannelsSettings
from .times import iso_time

log = logging.getLogger(__name__)
EventHandler = Callable[[Conn, Any], Awaitable[dict[str, Any]]]
ConnHook = Callable[[Conn], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Socket.IO server: its path, its (local) client manager, and the fast broadcast path on it."""

    path: str
    sio: socketio.AsyncServer
    manager: socketio.AsyncManager
    fast: FastBroadcast
    guard: EngineGuard


def heartbeat(presence_ttl: int) -> tuple[int, int]:
    """Engine.IO (ping interval, ping timeout) that find a silent client within `presence_ttl` seconds.

    A frozen client is noticed when a PING goes unanswered: at most interval
    plus timeout after its last word, plus up to a second for the pinger to
    wake. Keeping that under the presence TTL makes the documented bound
    (offline within the TTL, plus the sweep for a dead process) true.
    """
    interval = max(1, presence_ttl // 2)
    return interval, max(1, presence_ttl - 1 - interval)


def _library_logger(name: str, level: int) -> logging.Logger:
    """A Socket.IO library's logger, quiet by default: below `level` they log packets, tokens included."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(level)
    return logger


def _endpoint(app: web.Application, path: str, serializer: str, settings: ChannelsSettings, *,
              max_payload: int, close: Callable[[str, str, str, str], Awaitable[None]]) -> Endpoint:
    """A Socket.IO server served on `app` through the fast broadcast path (channels/broadcast.py): every
    broadcast is encoded once and written to each socket without a task, uncompressed, and a socket
    leaving more than `socket_max_pending` bytes unread is disconnected. Its libraries log through
    named loggers of ours (their defaults would add a handler writing plain text to stderr)."""
    manager = socketio.AsyncManager()
    ping_interval, ping_timeout = heartbeat(settings.presence_ttl)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        serializer=serializer,
        async_handlers=False,
        json=wire_json,
        max_http_buffer_size=max_payload,
        cors_allowed_origins=[],
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        logger=_library_logger("socketio.server", logging.WARNING),
        engineio_logger=_library_logger("engineio.server", logging.ERROR),
    )
    fast = broadcast.install(sio, app=app, path=path, max_pending_bytes=settings.socket_max_pending)
    guard = EngineGuard(
        sio, binary=serializer == "msgpack", close=partial(close, path),
        handshake_timeout=settings.handshake_timeout, max_handshakes=settings.max_handshakes,
        max_protocol_errors=settings.max_protocol_errors,
    )
    return Endpoint(path, sio, manager, fast, guard)


PUSH_ROUTED_MAX = 64  # users a push reaches through their own routed channels; past it, one broadcast


def user_room(user_id: uuid.UUID | str) -> str:
    """Every socket of a user is in this room (presence and notifications are sent to it)."""
    return f"user:{user_id}"


async def _not_serving(token: str) -> Identity:
    raise Refusal("The service is unavailable; try again shortly.", code="unavailable", status=503)


class Hub:
    """Socket.IO endpoints, this process's connections, and dispatch of client events to their handlers."""

    def __init__(self, app: web.Application, settings: ChannelsSettings, *, max_payload: int = 64 * 1024) -> None:
        # JSON for every client; msgpack for clients that want binary framing (same events).
        self.endpoints = [
            _endpoint(app, "socket.io", "default", settings, max_payload=max_payload, close=self._close_engine),
            _endpoint(app, "socket.io-msgpack", "msgpack", settings, max_payload=max_payload, close=self._close_engine),
        ]
        self._sockets_per_user = settings.sockets_per_user
        self.refused_too_many = 0
        self.conns = Connections(self._expire, self._warn)
        self._authenticate: Authenticate = _not_serving
        self._handlers: dict[str, tuple[type[Payload], EventHandler]] = {}
        self._connect_hooks: list[ConnHook] = []
        self._disconnect_hooks: list[tuple[ConnHook, bool]] = []
        self._pending: set[asyncio.Future[None]] = set()
        self._bus: Bus | None = None
        self._people: Counter[uuid.UUID] = Counter()  # sockets here of each person (apps' sockets not counted)
        for ep in self.endpoints:
            ep.sio.on("connect", partial(self._connect, ep))
            ep.sio.on("disconnect", self._disconnect)
            ep.sio.on("*", self._event)

    # -- what services register -----------------------------------------------------------------

    def on(self, event: str, model: type[Payload], handler: EventHandler) -> None:
        """Handle client event `event`: `handler(conn, payload)` gets the validated payload and returns
        the ack; raising a `Refusal` (such as `EventError`) answers `{ok: false, error}`."""
        if event in self._handlers:
            raise ValueError(f"event {event!r} is already handled")
        self._handlers[event] = (model, handler)

    def events(self) -> dict[str, type[Payload]]:
        """Every client event handled, with its payload model (for docs and the payload fuzz test)."""
        return {event: model for event, (model, _) in self._handlers.items()}

    def on_connect(self, callback: ConnHook) -> None:
        """Call `callback(conn)` once a socket of the person themselves has connected here (after its CONNECT
        ack); an app's socket (`Identity.events`) is not the person being here."""
        self._connect_hooks.append(callback)

    def on_disconnect(self, callback: ConnHook, *, person_only: bool = False) -> None:
        """Call `callback(conn)` after a socket of this process disconnects (`person_only`: not an app's)."""
        self._disconnect_hooks.append((callback, person_only))

    # -- serving ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def serving(self, bus: Bus, authenticate: Authenticate) -> AsyncIterator[None]:
        """Admit sockets whose token `authenticate` accepts, and reach other processes over `bus`, until the
        block exits; then every socket is closed and the Socket.IO servers are shut down."""
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._shutdown)
            self._bus = bus
            await bus.subscribe(PUSHES, self._on_push_to_many)
            self._authenticate = authenticate
            watchers = [asyncio.create_task(self.conns.watch(), name="token-deadlines"),
                        asyncio.create_task(self._expire_handshakes(), name="handshake-deadlines")]
            try:
                yield
            finally:
                self._authenticate = _not_serving
                await self.close_sockets()
                for task in watchers:
                    task.cancel()
                await asyncio.gather(*watchers, *self._pending, return_exceptions=True)
                for user in self._people:
                    bus.unroute(user_channel(user), self._on_push)
                self._people.clear()
                self._bus = None

    async def close_sockets(self) -> None:
        """Disconnect every socket, saying why, so clients reconnect to another process at once.

        The goodbyes get a moment to reach the wire; then connections still
        open are dropped, so shutdown never waits on a client's close handshake.
        """
        sids = list(self.conns.by_sid)
        for sid in sids:
            await self.drop(sid, "server_shutdown", "The server is restarting; reconnect.")
        if sids:
            await asyncio.sleep(0.2)
        for ep in self.endpoints:
            ep.fast.abort_all()

    async def _expire_handshakes(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for ep in self.endpoints:
                try:
                    await ep.guard.expire_handshakes()
                except Exception:
                    log.exception("closing timed-out handshakes failed")

    async def _close_engine(self, path: str, eio_sid: str, code: str, message: str) -> None:
        """Close an Engine.IO connection of endpoint `path`, telling its Socket.IO socket why if it has one."""
        ep = next(e for e in self.endpoints if e.path == path)
        sid = ep.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is not None and sid in self.conns.by_sid:
            await self.drop(sid, code, message)
            return
        sock = ep.sio.eio.sockets.get(eio_sid)
        if sock is not None and not sock.closed and not sock.closing:
            await sock.close(wait=False, reason=ep.sio.eio.reason.SERVER_DISCONNECT)

    async def _shutdown(self) -> None:
        for ep in self.endpoints:
            await ep.sio.shutdown()
            await ep.fast.shutdown()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` soon, keeping a reference until it finishes (`serving` waits for it)."""
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- emitting and rooms -----------------------------------------------------------------------

    async def emit_local(self, event: str, data: Any, to: str | list[str], skip_sid: str | None = None) -> None:
        """Deliver to sockets of this process only (other processes do their own)."""
        for ep in self.endpoints:
            await ep.sio.emit(event, data, to=to, skip_sid=skip_sid)

    async def push(self, event: str, data: dict[str, Any], users: list[uuid.UUID]) -> None:
        """Deliver `event` to every socket of each of `users`: here at once, elsewhere over each user's routed
        channel, which only the processes where that user has a socket hear. Past `PUSH_ROUTED_MAX` users (a
        presence change of someone in a large class) it is one broadcast that every process hears, cheaper
        than a routed message per user."""
        if self._bus is not None and len(users) > PUSH_ROUTED_MAX:
            push = PushToMany(event, data, users)
            await self._bus.publish(push.channel, push.encode())  # every process delivers it, this one too
            return
        await self.emit_local(event, data, to=[user_room(u) for u in users])
        if self._bus is not None:
            await self._bus.route_many([(user_channel(u), UserPush(u, event, data).encode()) for u in users], here=False)

    async def _on_push_to_many(self, _: str, data: bytes) -> None:
        push = PushToMany.decode(data)
        here = [user_room(u) for u in push.user_ids if u in self._people]
        if here:
            await self.emit_local(push.event, push.data, to=here)

    async def _on_push(self, _: str, data: bytes) -> None:
        push = UserPush.decode(data)
        await self.emit_local(push.event, push.data, to=user_room(push.user_id))

    @staticmethod
    def enter_room(conn: Conn, room: str) -> None:
        """Put the socket in `room` of this process, synchronously (streams rely on no await here)."""
        conn.endpoint.manager.basic_enter_room(conn.sid, "/", room)

    @staticmethod
    def leave_room(conn: Conn, room: str) -> None:
        conn.endpoint.manager.basic_leave_room(conn.sid, "/", room)

    # -- connecting and disconnecting -------------------------------------------------------------

    async def _connect(self, ep: Endpoint, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "Send {token} in the connection's auth payload.", {"code": "missing_token"}
            )
        try:
            identity = await self._authenticate(token)
        except StorageError:
            raise socketio.exceptions.ConnectionRefusedError(
                "The service is unavailable; try again shortly.", {"code": "unavailable"}
            ) from None
        except Refusal as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        if self.conns.count_of(identity.user_id) >= self._sockets_per_user:
            self.refused_too_many += 1
            raise socketio.exceptions.ConnectionRefusedError(
                f"You have {self._sockets_per_user} sockets connected here already; close one first.",
                {"code": "too_many_sockets"},
            )
        conn = Conn(sid, ep, identity.user_id, identity.session_id, identity.expires_at, events=identity.events)
        self.conns.add(conn)
        broadcast.forget_environ(ep.sio, sid)  # nothing needs the handshake's headers any more
        if conn.events is not None:
            return  # an app's socket: not the person here (no user room, presence or notifications)
        self.enter_room(conn, user_room(conn.user_id))
        self._people[conn.user_id] += 1
        if self._people[conn.user_id] == 1 and self._bus is not None:
            # The person's first socket here: hear their channel before the CONNECT ack, so nothing pushed
            # after the client saw itself connected can pass this process by.
            await self._bus.route(user_channel(conn.user_id), self._on_push)
        # Run after this handler returns, so the client hears its CONNECT ack before any event.
        for hook in self._connect_hooks:
            self._background(hook(conn))

    async def _disconnect(self, sid: str, reason: str | None = None) -> None:
        conn = self.conns.remove(sid)
        if conn is None:
            return
        if conn.events is None:
            self._people[conn.user_id] -= 1
            if self._people[conn.user_id] == 0:
                del self._people[conn.user_id]
                if self._bus is not None:
                    self._bus.unroute(user_channel(conn.user_id), self._on_push)
        if reason == broadcast.SLOW_CONSUMER:
            log.warning("slow consumer disconnected", extra={"event": "slow_consumer", "sid": sid})
        for hook, person_only in self._disconnect_hooks:
            if person_only and conn.events is not None:
                continue
            try:
                await hook(conn)
            except Exception:
                log.exception("disconnect hook failed")

    async def drop(self, sid: str, code: str, message: str = "The server closed this connection.") -> None:
        """Tell the socket why, then disconnect it."""
        await self.emit_local("auth:expired" if code.startswith("token") else "server:disconnect",
                              {"code": code, "message": message}, to=sid)
        conn = self.conns.by_sid.get(sid)
        if conn is not None:
            sio = conn.endpoint.sio
            eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
            await sio.disconnect(sid, ignore_queue=True)
            if eio_sid is not None:
                await sio.eio.disconnect(eio_sid)  # close the connection too, not just the namespace

    async def _expire(self, conn: Conn, code: str) -> None:
        log.info("socket token expired", extra={"event": "socket_expired", "sid": conn.sid, "code": code})
        await self.drop(conn.sid, code, "Your access token expired; reconnect with a fresh one.")

    async def _warn(self, conn: Conn) -> None:
        await self.emit_local("auth:expiring", {"expires_at": iso_time(conn.expires_at)}, to=conn.sid)

    # -- events -----------------------------------------------------------------------------------

    async def _event(self, event: str, sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
        """Every client event: validate, run, and answer in the ack shape."""
        entry = self._handlers.get(event)
        if entry is None:
            log.warning("unknown event ignored", extra={"event": "unknown_event", "sid": sid})
            return refusal_ack(EventError("unknown_event", "No such event."))
        conn = self.conns.by_sid.get(sid)
        if conn is None:
            return refusal_ack(EventError("not_connected", "Connect first."))
        model, handler = entry
        if conn.events is not None and event not in conn.events:
            return refusal_ack(EventError("insufficient_scope", "This token's scopes do not allow this event."))
        try:
            if conn.expires_at <= time.time():
                raise EventError("token_expired", "Your access token expired; send auth:refresh.")
            result: dict[str, Any] = await handler(conn, parse(model, data))
            return result
        except Refusal as exc:  # every domain's refusals
            return refusal_ack(exc)
        except StorageError:
            log.exception("storage error in event")
            return refusal_ack(EventError("unavailable", "The service is unavailable; try again shortly."))
        except Exception:
            log.exception("event handler failed")
            return refusal_ack(EventError("internal_error", "Something went wrong on our side."))
