"""The real-time client: Socket.IO chat, presence, typing and receipts, with recovery.

It reconnects by itself; on every (re)connect it authenticates with a fresh
access token and re-joins its conversations with the last seq it saw, so the
server sends what was missed, in order, before anything live. Tokens are
refreshed when the server says `auth:expiring`. In end-to-end encrypted
conversations it encrypts and decrypts for you. The "available now" markers of
the practitioners it watches are kept in `available`, watched again after a
reconnect.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import socketio

from .e2ee import DeviceKeys
from .errors import ApiError
from .rest import KlearClient


class EventRefused(Exception):
    """The server answered an event with `{ok: false, error}`."""

    def __init__(self, code: str, message: str, error: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.error = error


class Realtime:
    """One user's Socket.IO connection to a Klear server."""

    def __init__(self, client: KlearClient, *, reconnect: bool = True, serializer: str = "json",
                 ack_timeout: float = 10.0, auto_refresh: bool = True) -> None:
        self.rest = client
        self.auto_refresh = auto_refresh
        self.ack_timeout = ack_timeout
        kwargs: dict[str, Any] = {"serializer": "msgpack"} if serializer == "msgpack" else {}
        self.path = "socket.io-msgpack" if serializer == "msgpack" else "socket.io"
        self.sio = socketio.AsyncClient(reconnection=reconnect, reconnection_delay=0.1, reconnection_delay_max=1.0,
                                        randomization_factor=0.2, **kwargs)
        self.last_seq: dict[str, int] = {}
        self.last_rev: dict[str, int] = {}
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.connect_errors: list[dict[str, Any]] = []
        self.keys: DeviceKeys | None = None
        self._e2ee: dict[str, list[str]] = {}
        self._connected = asyncio.Event()
        self._rejoins: set[asyncio.Task[None]] = set()
        self._joins: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.available: dict[str, bool] = {}  # practitioner id -> available now, for those watched
        self._watched: list[str] = []
        self._register()

    @property
    def user_id(self) -> str:
        assert self.rest.session is not None
        return self.rest.session.user_id

    def _register(self) -> None:
        sio = self.sio

        @sio.event
        async def connect() -> None:
            self._connected.set()
            if self.last_seq or self._watched:
                task = asyncio.ensure_future(self._rejoin_all())
                self._rejoins.add(task)
                task.add_done_callback(self._rejoins.discard)
            await self.events.put(("connect", None))

        @sio.event
        async def disconnect(reason: Any = None) -> None:
            self._connected.clear()
            await self.events.put(("disconnect", reason))

        @sio.event
        async def connect_error(data: Any) -> None:
            self.connect_errors.append(data if isinstance(data, dict) else {"message": str(data)})
            await self.events.put(("connect_error", data))

        @sio.on("message:new")
        async def message_new(message: dict[str, Any]) -> None:
            cid = message["conversation_id"]
            self._decrypt(message)
            self.received[cid].append(message)
            self.last_seq[cid] = max(self.last_seq.get(cid, 0), message["seq"])
            self.last_rev[cid] = max(self.last_rev.get(cid, 0), message["rev"])
            await self.events.put(("message:new", message))

        @sio.on("message:updated")
        async def message_updated(message: dict[str, Any]) -> None:
            self._decrypt(message)
            cid = message["conversation_id"]
            self.last_rev[cid] = max(self.last_rev.get(cid, 0), message["rev"])
            await self.events.put(("message:updated", message))

        @sio.on("available:changed")
        async def available_changed(data: dict[str, Any]) -> None:
            if data["practitioner_id"] in self.available:
                self.available[data["practitioner_id"]] = data["available_now"]
            await self.events.put(("available:changed", data))

        @sio.on("auth:expiring")
        async def expiring(data: Any) -> None:
            await self.events.put(("auth:expiring", data))
            if self.auto_refresh:
                await self.refresh_token()

        @sio.on("*")
        async def other(event: str, data: Any = None) -> None:
            await self.events.put((event, data))

    def _auth(self) -> dict[str, str]:
        assert self.rest.session is not None, "sign in before connecting"
        return {"token": self.rest.session.access_token}

    async def connect(self, *, transports: list[str] | None = None, wait: float = 10.0) -> None:
        """Connect and authenticate; raises `ApiError` with the server's code if refused."""
        try:
            await self.sio.connect(self.rest.base_url, auth=lambda: self._auth(), transports=transports or ["websocket"],
                                   socketio_path=self.path, wait_timeout=wait)
        except socketio.exceptions.ConnectionError as exc:
            err = self.connect_errors[-1] if self.connect_errors else {}
            code = (err.get("data") or {}).get("code", "connect_failed") if isinstance(err.get("data"), dict) else "connect_failed"
            raise ApiError(401, code, str(err.get("message", exc)), [], {}) from None

    async def close(self) -> None:
        for task in list(self._rejoins):
            task.cancel()
        await asyncio.gather(*self._rejoins, return_exceptions=True)
        await self.sio.shutdown()

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send an event and return its successful ack; raise `EventRefused` otherwise."""
        ack = await self.sio.call(event, data, timeout=self.ack_timeout)
        if not isinstance(ack, dict) or not ack.get("ok"):
            error = (ack or {}).get("error", {}) if isinstance(ack, dict) else {}
            raise EventRefused(error.get("code", "refused"), error.get("message", ""), error)
        return ack

    async def refresh_token(self) -> None:
        """Get a new access token over REST and hand it to the live connection."""
        await self.rest.refresh()
        await self.call("auth:refresh", {"token": self.rest.session.access_token})  # type: ignore[union-attr]

    async def join(self, conversation_id: str) -> dict[str, Any]:
        """Join a conversation; messages after the last one seen arrive first, in order.

        A join already in flight for the conversation (say, the automatic one
        after a reconnect) is awaited instead of sending a second request.
        """
        pending = self._joins.get(conversation_id)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._join(conversation_id))
        self._joins[conversation_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if self._joins.get(conversation_id) is task:
                del self._joins[conversation_id]

    async def _join(self, conversation_id: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"conversation_id": conversation_id, "last_seq": self.last_seq.get(conversation_id, 0)}
        if conversation_id in self.last_rev:
            payload["last_rev"] = self.last_rev[conversation_id]
        ack = await self.call("conversation:join", payload)
        self.last_seq[conversation_id] = max(self.last_seq.get(conversation_id, 0), ack["last_seq"])
        conv = ack["conversation"]
        if conv["e2ee"] and self.keys is not None:
            self._e2ee[conversation_id] = conv["member_ids"]
            await self._learn_keys(conv["member_ids"])
        return ack

    async def _rejoin_all(self) -> None:
        for cid in list(self.last_seq):
            try:
                await self.join(cid)
            except (EventRefused, socketio.exceptions.SocketIOError):
                continue
        if self._watched:
            try:
                await self.watch_available(self._watched)
            except (EventRefused, socketio.exceptions.SocketIOError):
                pass

    async def send(self, conversation_id: str, text: str, *, client_id: str | None = None, retries: int = 3) -> dict[str, Any]:
        """Send a message; retried with the same client_id, so it is stored exactly once."""
        payload: dict[str, Any] = {"conversation_id": conversation_id, "client_id": client_id or str(uuid.uuid4())}
        if conversation_id in self._e2ee:
            payload["e2ee"] = await self._encrypt(conversation_id, text)
        else:
            payload["body"] = text
        for attempt in range(retries + 1):
            try:
                ack = await self.call("message:send", payload)
                return dict(ack["message"])
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                if attempt == retries:
                    raise
                await self.wait_connected()
        raise AssertionError("unreachable")

    async def edit(self, conversation_id: str, seq: int, text: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"conversation_id": conversation_id, "seq": seq}
        if conversation_id in self._e2ee:
            payload["e2ee"] = await self._encrypt(conversation_id, text)
        else:
            payload["body"] = text
        return dict((await self.call("message:edit", payload))["message"])

    async def delete(self, conversation_id: str, seq: int) -> dict[str, Any]:
        return dict((await self.call("message:delete", {"conversation_id": conversation_id, "seq": seq}))["message"])

    async def read(self, conversation_id: str, seq: int) -> int:
        return int((await self.call("receipt:read", {"conversation_id": conversation_id, "seq": seq}))["read_seq"])

    async def typing(self, conversation_id: str, state: str = "start") -> dict[str, Any]:
        return await self.call("typing", {"conversation_id": conversation_id, "state": state})

    async def set_presence(self, state: str) -> None:
        await self.call("presence:set", {"state": state})

    async def watch_available(self, practitioner_ids: list[str]) -> dict[str, bool]:
        """Watch the "available now" marker of the practitioners a result list shows (at most 100; replaces the
        previous watch, [] ends it). Returns their current values, also kept in `available`; changes arrive as
        `available:changed {practitioner_id, available_now}` events and update `available`."""
        ack = await self.call("available:watch", {"practitioner_ids": practitioner_ids})
        self._watched = list(practitioner_ids)
        self.available = {i["practitioner_id"]: i["available_now"] for i in ack["items"]}
        return dict(self.available)

    async def next_event(self, name: str, timeout: float = 5.0) -> Any:
        """Wait for the next event called `name`, skipping others."""
        async def wait() -> Any:
            while True:
                event, data = await self.events.get()
                if event == name:
                    return data
        return await asyncio.wait_for(wait(), timeout)

    # -- end-to-end encryption -----------------------------------------------------------

    async def enable_e2ee(self, key_id: str | None = None) -> DeviceKeys:
        """Create this device's key pair and register its public key."""
        self.keys = DeviceKeys(key_id or uuid.uuid4().hex[:16])
        await self.rest.call("POST", "/devices/keys", json_body={"key_id": self.keys.key_id, "public_key": self.keys.public_b64})
        self.keys.learn(self.user_id, self.keys.key_id, self.keys.public_b64)
        return self.keys

    async def _learn_keys(self, member_ids: list[str]) -> list[tuple[str, str]]:
        assert self.keys is not None
        devices: list[tuple[str, str]] = []
        for member in member_ids:
            listing = await self.rest.call("GET", f"/users/{member}/keys")
            for key in listing["keys"]:
                self.keys.learn(member, key["key_id"], key["public_key"])
                devices.append((member, key["key_id"]))
        return devices

    async def _encrypt(self, conversation_id: str, text: str) -> dict[str, str]:
        assert self.keys is not None, "call enable_e2ee() first"
        devices = await self._learn_keys(self._e2ee[conversation_id])
        return self.keys.encrypt(text, devices)

    def _decrypt(self, message: dict[str, Any]) -> None:
        sealed = message.get("e2ee")
        if sealed and self.keys is not None and not message.get("deleted"):
            try:
                message["text"] = self.keys.decrypt(self.user_id, message["sender_id"], sealed)
            except (KeyError, ValueError):
                message["text"] = None
        elif message.get("body") is not None:
            message["text"] = message["body"]
