"""The channels component: Socket.IO on the aiohttp app, and everything live that runs on it.

One `Channels` object per process is built with the app (so Socket.IO's
routes exist), started with the runtime in the app's cleanup context, and
stopped there. It owns the Socket.IO server, this process's connections, the
message writer, the conversation streams and presence, and listens to the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

import socketio
from aiohttp import web

from server.auth.principal import authenticate_token
from server.errors import Unauthorized
from server.runtime import Runtime
from storage import conversations
from storage.bus_messages import AUTH, CHAT, ChatPosted, SessionRevoked, decode_auth
from storage.errors import Refusal, StorageError

from . import broadcast, wire
from .broadcast import FastBroadcast
from .chat import Chat
from .connections import Conn, Connections
from .live import Live
from .manager import BusManager
from .payloads import AuthRefresh, EventError, Payload, PresenceSet, ok, parse, refusal_ack
from .presence import Change, MemoryPresence, PresenceStore, RedisPresence
from .sources import ConversationSource
from .streams import Streams
from .writer import MessageWriter

log = logging.getLogger(__name__)
EventHandler = Callable[[Conn, Any], Awaitable[dict[str, Any]]]
DisconnectHandler = Callable[[Conn], Awaitable[None]]


@dataclass(slots=True)
class Endpoint:
    """One Socket.IO server: its path, its cross-process manager, and the fast broadcast path on it."""

    path: str
    sio: socketio.AsyncServer
    manager: BusManager
    fast: FastBroadcast | None = None


def _endpoint(path: str, serializer: str, max_payload: int) -> Endpoint:
    manager = BusManager(serializer)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        serializer=serializer,
        async_handlers=False,
        max_http_buffer_size=max_payload,
        cors_allowed_origins=[],
        logger=False,
        engineio_logger=False,
    )
    return Endpoint(path, sio, manager)


def user_room(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


class Channels:
    """Socket.IO for chat, presence, typing, receipts and live updates, in one process."""

    def __init__(self, *, max_pending: int, max_payload: int = 64 * 1024) -> None:
        self._max_pending = max_pending
        # JSON for every client; msgpack for clients that want binary framing (same events).
        self.endpoints = [
            _endpoint("socket.io", "default", max_payload),
            _endpoint("socket.io-msgpack", "msgpack", max_payload),
        ]
        self._rt: Runtime | None = None
        self.conns = Connections(self._expire, self._warn)
        self.chat = Chat(self)
        self.streams: Streams | None = None
        self.writer: MessageWriter | None = None
        self.presence: PresenceStore | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Future[None]] = set()
        self._disconnect_hooks: list[DisconnectHandler] = []
        self._handlers: dict[str, tuple[type[Payload], EventHandler]] = {
            "auth:refresh": (AuthRefresh, self._auth_refresh),
            "presence:set": (PresenceSet, self._presence_set),
            **self.chat.handlers(),
        }
        self.live = Live(self)
        for ep in self.endpoints:
            ep.sio.on("connect", partial(self._connect, ep))
            ep.sio.on("disconnect", self._disconnect)
            ep.sio.on("*", self._event)

    def on(self, event: str, model: type[Payload], handler: EventHandler) -> None:
        """Register a client event of another component (e.g. video signalling).

        `handler(conn, payload)` gets the validated payload and returns the
        ack; raising `EventError` answers `{ok: false, error}`. Register before
        the app starts.
        """
        if event in self._handlers:
            raise ValueError(f"event {event!r} is already handled")
        self._handlers[event] = (model, handler)

    def on_disconnect(self, callback: DisconnectHandler) -> None:
        """Call `callback(conn)` after a socket of this process disconnects."""
        self._disconnect_hooks.append(callback)

    @property
    def rt(self) -> Runtime:
        assert self._rt is not None, "channels used before start()"
        return self._rt

    def attach(self, app: web.Application) -> None:
        """Serve each endpoint on `app` through the fast broadcast path (channels/broadcast.py):
        every broadcast is encoded once and written to each socket without a task, uncompressed,
        and a socket leaving more than `max_pending` bytes unread is disconnected."""
        for ep in self.endpoints:
            ep.fast = broadcast.install(ep.sio, app=app, path=ep.path, max_pending_bytes=self._max_pending)

    async def start(self, rt: Runtime) -> None:
        self._rt = rt
        s = rt.settings
        self.writer = MessageWriter(rt.db, lanes=max(1, s.storage.db_pool_max // 2))
        self.streams = Streams(ConversationSource(rt.db), self._deliver)
        self.presence = (
            RedisPresence(rt.redis, s.storage.redis_prefix, s.channels.presence_ttl) if rt.redis is not None else MemoryPresence(s.channels.presence_ttl)
        )
        await rt.bus.subscribe(CHAT, self._on_chat)
        await rt.bus.subscribe(AUTH, self._on_auth)
        rt.bus.on_reconnect(self.streams.catch_up)
        await self.live.start(rt)
        for ep in self.endpoints:
            await ep.manager.bind(rt.bus)
        self._tasks.append(asyncio.create_task(self._presence_loop(), name="presence"))
        self._tasks.append(asyncio.create_task(self.conns.watch(), name="token-deadlines"))

    async def close_sockets(self) -> None:
        """Disconnect every socket, saying why, so clients reconnect to another process at once.

        The goodbyes get a moment to reach the wire; then connections still
        open are dropped, so shutdown never waits on a client's close handshake.
        """
        sids = list(self.conns.by_sid)
        for sid in sids:
            await self._drop(sid, "server_shutdown", "The server is restarting; reconnect.")
        if sids:
            await asyncio.sleep(0.2)
        for ep in self.endpoints:
            if ep.fast is not None:
                ep.fast.abort_all()

    async def stop(self) -> None:
        """Stop background work; sockets were closed when shutdown began."""
        await self.close_sockets()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._pending, return_exceptions=True)
        if self.writer is not None:
            await self.writer.close()
        if self.streams is not None:
            await self.streams.close()
        await self.live.stop()
        for ep in self.endpoints:
            await ep.manager.unbind()
            await ep.sio.shutdown()
            if ep.fast is not None:
                await ep.fast.shutdown()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` soon, keeping a reference until it finishes (stop() waits for it)."""
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- emitting ---------------------------------------------------------------------------

    async def emit_local(self, event: str, data: Any, to: str | list[str]) -> None:
        """Deliver to sockets of this process only (other processes do their own)."""
        for ep in self.endpoints:
            await ep.sio.emit(event, data, to=to, ignore_queue=True)

    async def emit_all(self, event: str, data: Any, to: str | list[str], skip_sid: str | None = None) -> None:
        """Deliver to sockets in `to` on every process."""
        for ep in self.endpoints:
            await ep.sio.emit(event, data, to=to, skip_sid=skip_sid)

    async def _deliver(self, cid: uuid.UUID, message: Any) -> None:
        await self.emit_local("message:new", wire.message_json(message), to=f"conv:{cid}")

    async def announce(self, kind: str, message: Any) -> None:
        """A message was stored or revised here: deliver it locally and tell the other processes."""
        assert self.streams is not None
        if kind == "new":
            await self.streams.committed(message.conversation_id, message)
        else:
            await self.emit_local("message:updated", wire.message_json(message), to=f"conv:{message.conversation_id}")
        await self.rt.bus.publish(CHAT, ChatPosted(kind, message).encode(self.rt.db.sealer))

    async def _on_chat(self, _: str, data: bytes) -> None:
        assert self.streams is not None
        posted = ChatPosted.decode(self.rt.db.sealer, data)
        kind, message = posted.kind, posted.message
        if kind == "new":
            await self.streams.committed(message.conversation_id, message)
        else:
            await self.emit_local("message:updated", wire.message_json(message), to=f"conv:{message.conversation_id}")

    # -- connecting and authentication ------------------------------------------------------

    async def _connect(self, ep: Endpoint, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "Send {token} in the connection's auth payload.", {"code": "missing_token"}
            )
        try:
            principal = await authenticate_token(self.rt, token, cached=False)
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        except StorageError:
            raise socketio.exceptions.ConnectionRefusedError(
                "The service is unavailable; try again shortly.", {"code": "unavailable"}
            ) from None
        conn = Conn(sid, ep, principal.user_id, principal.session_id, float(principal.claims.expires_at))
        self.conns.add(conn)
        ep.manager.basic_enter_room(sid, "/", user_room(conn.user_id))
        broadcast.forget_environ(ep.sio, sid)  # nothing needs the handshake's headers any more
        # Announced after this handler returns, so the client hears its CONNECT ack before any event.
        self._background(self._presence_update(conn, "online"))

    async def _disconnect(self, sid: str, reason: str | None = None) -> None:
        conn = self.conns.remove(sid)
        if conn is None:
            return
        if reason == broadcast.SLOW_CONSUMER:
            log.warning("slow consumer disconnected", extra={"event": "slow_consumer", "sid": sid})
        assert self.streams is not None
        for cid in conn.joined:
            self.streams.detach(cid, sid)
        for hook in self._disconnect_hooks:
            try:
                await hook(conn)
            except Exception:
                log.exception("disconnect hook failed")
        await self._presence_update(conn, None)

    async def _drop(self, sid: str, code: str, message: str = "The server closed this connection.") -> None:
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
        await self._drop(conn.sid, code, "Your access token expired; reconnect with a fresh one.")

    async def _warn(self, conn: Conn) -> None:
        await self.emit_local("auth:expiring", {"expires_at": conn.expires_at}, to=conn.sid)

    async def _auth_refresh(self, conn: Conn, p: AuthRefresh) -> dict[str, Any]:
        try:
            principal = await authenticate_token(self.rt, p.token, cached=False)
        except Unauthorized as exc:
            raise EventError(exc.code, exc.message) from None
        if principal.user_id != conn.user_id:
            raise EventError("wrong_user", "That token belongs to another account.")
        self.conns.reauthenticated(conn, principal.session_id, float(principal.claims.expires_at))
        return ok(expires_at=conn.expires_at)

    async def _on_auth(self, _: str, data: bytes) -> None:
        revoked = decode_auth(data)
        if not isinstance(revoked, SessionRevoked):
            return
        for conn in self.conns.of_session(revoked.session_id):
            await self._drop(conn.sid, "token_revoked", "This session was signed out.")

    # -- events -------------------------------------------------------------------------------

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

    # -- presence -------------------------------------------------------------------------------

    async def _presence_set(self, conn: Conn, p: PresenceSet) -> dict[str, Any]:
        await self._presence_update(conn, p.state)
        return ok(state=p.state)

    async def _presence_update(self, conn: Conn, state: str | None) -> None:
        assert self.presence is not None
        if state is not None:
            conn.state = state
        try:
            change = await self.presence.update(conn.user_id, conn.sid, state)
        except Exception:
            log.exception("presence update failed")
            return
        if change is not None:
            await self._announce_presence(change)

    async def _announce_presence(self, change: Change) -> None:
        contacts = await conversations.contacts(self.rt.db, change.user_id)
        rooms = [user_room(u) for u in [change.user_id, *contacts]]
        await self.emit_all("presence", {"user_id": str(change.user_id), "state": change.state,
                                         "last_seen": change.last_seen}, to=rooms)

    async def _presence_loop(self) -> None:
        assert self.presence is not None
        ttl = self.rt.settings.channels.presence_ttl
        heartbeat_every, sweep_every = ttl / 3, min(2.0, ttl / 5)
        next_beat = time.monotonic() + heartbeat_every
        while True:
            await asyncio.sleep(sweep_every)
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + heartbeat_every
                    await self.presence.heartbeat([(c.user_id, c.sid, c.state) for c in self.conns.by_sid.values()])
                for change in await self.presence.sweep():
                    await self._announce_presence(change)
            except Exception:
                log.exception("presence upkeep failed; retrying")

