"""Chat events: joining with recovery, sending, editing, deleting, read receipts and typing.

Membership is checked server-side on every event: joining reads it from
PostgreSQL, sending is refused inside the same statement that stores the
message, receipts update only a member's row, and typing requires a joined
conversation. A direct conversation that is still a contact request
(storage/conversations.py) refuses them all with `request_pending`. Messages
stored here are delivered to this process's sockets at once and announced on
the conversation's routed bus channel (sealed), which only the processes with
a socket in the conversation hear; receipts and typing travel the same way.

Who hears what: messages and edits go to every joined socket of the
conversation; a receipt to every one but the socket that sent it (the reader's
other devices learn what was read, so their unread counts agree), and only if
it moved the reader's position; typing to the other members' joined sockets
only, never to any of the typist's own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from storage import audit, conversations, messages
from storage.bus import Bus
from storage.bus_messages import ChatPosted, ChatSignal, chat_channel, decode_chat
from storage.database import Database
from storage.messages import Message, NewMessage
from storage.ratelimit import RateLimiter
from storage.settings import Rate

from . import wire
from .connections import Conn
from .hub import Hub
from .interface import EventError, ok
from .payloads import ConversationRef, Delete, Edit, Join, Receipt, Send, Typing
from .sources import ConversationSource
from .streams import Streams
from .writer import MessageWriter

TYPING_INTERVAL = 1.0
_REFUSALS = {
    "not_member": ("not_member", "You are not a member of this conversation."),
    "request_pending": ("request_pending", "The other person has not accepted this conversation yet."),
    "e2ee_required": ("e2ee_required", "This conversation is end-to-end encrypted: send e2ee, not body."),
    "plaintext_required": ("plaintext_required", "This conversation is not end-to-end encrypted: send body."),
    "client_id_reused": ("client_id_reused", "This client_id was already used for another conversation."),
    "not_found": ("not_found", "No such message."),
    "not_author": ("not_author", "Only the author can change a message."),
    "deleted": ("deleted", "The message was deleted."),
}


def room(cid: uuid.UUID) -> str:
    """Every joined socket of the conversation."""
    return f"conv:{cid}"


def member_room(cid: uuid.UUID, user_id: uuid.UUID) -> str:
    """The joined sockets of one member of the conversation (typing skips the typist's)."""
    return f"conv:{cid}:{user_id}"


def _refuse(status: str) -> EventError:
    code, message = _REFUSALS.get(status, ("refused", "The request was refused."))
    return EventError(code, message)


class Chat:
    """The chat events of one process's Socket.IO hub, and delivery of every process's messages to its sockets."""

    def __init__(self, hub: Hub, db: Database, bus: Bus, limiter: RateLimiter, rate: Rate, *, lanes: int) -> None:
        self._hub = hub
        self._db = db
        self._bus = bus
        self._limiter = limiter
        self._rate = rate
        self.writer = MessageWriter(db, lanes=lanes)
        self.streams = Streams(ConversationSource(db), self._deliver, listen=self._listen, unlisten=self._unlisten)
        hub.on("conversation:join", Join, self.join)
        hub.on("conversation:leave", ConversationRef, self.leave)
        hub.on("message:send", Send, self.send)
        hub.on("message:edit", Edit, self.edit)
        hub.on("message:delete", Delete, self.delete)
        hub.on("receipt:read", Receipt, self.read)
        hub.on("typing", Typing, self.typing)
        hub.on_disconnect(self._forget)

    @classmethod
    @asynccontextmanager
    async def running(
        cls, hub: Hub, db: Database, bus: Bus, limiter: RateLimiter, rate: Rate, *, lanes: int,
    ) -> AsyncIterator[Chat]:
        """Chat until the block exits; then sends in flight are stored and delivery stops."""
        chat = cls(hub, db, bus, limiter, rate, lanes=lanes)
        bus.on_reconnect(chat.streams.catch_up)
        try:
            yield chat
        finally:
            await chat.writer.close()
            await chat.streams.close()

    async def _deliver(self, cid: uuid.UUID, message: Message) -> None:
        await self._hub.emit_local("message:new", wire.message_json(message), to=room(cid))

    async def _received(self, kind: str, message: Message) -> None:
        """A message was stored or revised (here or elsewhere): deliver it to this process's sockets."""
        if kind == "new":
            await self.streams.committed(message.conversation_id, message)
        else:
            await self._hub.emit_local("message:updated", wire.message_json(message), to=room(message.conversation_id))

    async def _announce(self, kind: str, message: Message) -> None:
        """A message was stored or revised here: deliver it locally, then tell the processes with members in
        the conversation (none may listen: then Redis drops it)."""
        await self._received(kind, message)
        posted = ChatPosted(kind, message)
        await self._bus.route_many([(posted.channel, posted.encode(self._db.sealer))], here=False)

    async def _listen(self, cid: uuid.UUID) -> None:
        await self._bus.route(chat_channel(cid), self._on_chat)

    def _unlisten(self, cid: uuid.UUID) -> None:
        self._bus.unroute(chat_channel(cid), self._on_chat)

    async def _on_chat(self, _: str, data: bytes) -> None:
        heard = decode_chat(self._db.sealer, data)
        if isinstance(heard, ChatSignal):
            await self._hub.emit_local(heard.event, heard.data, to=heard.rooms, skip_sid=heard.skip_sid)
        else:
            await self._received(heard.kind, heard.message)

    async def _signal(self, signal: ChatSignal) -> None:
        """A receipt or typing event: to the joined sockets here, then to the processes with one there."""
        await self._hub.emit_local(signal.event, signal.data, to=signal.rooms, skip_sid=signal.skip_sid)
        await self._bus.route_many([(signal.channel, signal.encode(self._db.sealer))], here=False)

    async def _forget(self, conn: Conn) -> None:
        for cid in conn.joined:
            self.streams.detach(cid, conn.sid)

    async def join(self, conn: Conn, p: Join) -> dict[str, Any]:
        """Join a conversation's room, first receiving every message after `last_seq`."""
        summary = await conversations.for_member(self._db, p.conversation_id, conn.user_id)
        if summary is None:
            raise _refuse("not_member")
        if not summary.conversation.accepted:
            raise _refuse("request_pending")
        cid, sid = p.conversation_id, conn.sid
        if cid in conn.joined:
            self._part(conn, cid)
        others = [m for m in summary.conversation.member_ids if m != conn.user_id]
        await audit.record(self._db, actor_id=conn.user_id, action="conversation.join",
                           subject_id=others[0] if len(others) == 1 else None, resource=f"conversation:{cid}",
                           request_id=None)

        async def send(m: messages.Message) -> None:
            await self._hub.emit_local("message:new", wire.message_json(m), to=sid)

        def enter() -> None:
            self._hub.enter_room(conn, room(cid))
            self._hub.enter_room(conn, member_room(cid, conn.user_id))
            conn.joined |= {cid}

        attached = await self.streams.attach(cid, sid, p.last_seq, send, enter)
        if p.last_rev is not None:
            for m in await messages.changed_since(self._db, cid, p.last_rev, attached.upto, 1000):
                await self._hub.emit_local("message:updated", wire.message_json(m), to=sid)
        conv = summary.conversation
        return ok(
            conversation={"id": str(cid), "kind": conv.kind, "e2ee": conv.e2ee,
                          "member_ids": [str(m) for m in conv.member_ids]},
            last_seq=attached.upto, sent=attached.sent, truncated_before=attached.truncated_before,
        )

    async def leave(self, conn: Conn, p: ConversationRef) -> dict[str, Any]:
        if p.conversation_id in conn.joined:
            self._part(conn, p.conversation_id)
        return ok()

    def _part(self, conn: Conn, cid: uuid.UUID) -> None:
        self._hub.leave_room(conn, room(cid))
        self._hub.leave_room(conn, member_room(cid, conn.user_id))
        self.streams.detach(cid, conn.sid)
        conn.joined -= {cid}

    async def send(self, conn: Conn, p: Send) -> dict[str, Any]:
        """Store a message (idempotent by client_id), then fan it out as `message:new`."""
        p.checked()
        wait = await self._limiter.take(f"chat:{conn.user_id}", self._rate)
        if wait > 0:
            raise EventError("rate_limited", "You are sending too fast.", retry_after=round(wait, 3))
        sealed = p.e2ee
        posted = await self.writer.post(NewMessage(
            p.conversation_id, conn.user_id, p.client_id, body=p.body,
            ciphertext=sealed.ciphertext if sealed else None, nonce=sealed.nonce if sealed else None,
            sender_key_id=sealed.sender_key_id if sealed else None,
        ))
        if posted.message is None:
            raise _refuse(posted.status)
        # A duplicate is announced again: if the first attempt's process died before
        # announcing, this is what delivers it (streams drop what they already have).
        await self._announce("new", posted.message)
        return ok(message=wire.message_json(posted.message), duplicate=posted.status == "duplicate")

    async def edit(self, conn: Conn, p: Edit) -> dict[str, Any]:
        p.checked()
        sealed = p.e2ee
        result = await messages.revise(
            self._db, p.conversation_id, p.seq, conn.user_id, body=p.body,
            ciphertext=sealed.ciphertext if sealed else None, nonce=sealed.nonce if sealed else None,
            sender_key_id=sealed.sender_key_id if sealed else None,
        )
        if result.message is None:
            raise _refuse(result.status)
        await self._announce("updated", result.message)
        return ok(message=wire.message_json(result.message))

    async def delete(self, conn: Conn, p: Delete) -> dict[str, Any]:
        result = await messages.revise(self._db, p.conversation_id, p.seq, conn.user_id, delete=True)
        if result.message is None:
            raise _refuse(result.status)
        await self._announce("updated", result.message)
        return ok(message=wire.message_json(result.message))

    async def read(self, conn: Conn, p: Receipt) -> dict[str, Any]:
        """Move the read position forward (never back); if it moved, tell the conversation's other
        joined sockets, the reader's other devices included."""
        read = await conversations.mark_read(self._db, p.conversation_id, conn.user_id, p.seq)
        if read.status != "ok":
            raise _refuse(read.status)
        if read.moved:
            await self._signal(ChatSignal(
                p.conversation_id, "receipt:read",
                {"conversation_id": str(p.conversation_id), "user_id": str(conn.user_id), "seq": read.read_seq},
                [room(p.conversation_id)], conn.sid,
            ))
        return ok(read_seq=read.read_seq)

    async def typing(self, conn: Conn, p: Typing) -> dict[str, Any]:
        """Relay typing to the other members' joined sockets (never the typist's own); never stored, at most one
        `start` per second."""
        cid = p.conversation_id
        if cid not in conn.joined:
            raise EventError("not_joined", "Join the conversation first.")
        now = time.monotonic()
        if p.state == "start":
            if conn.typing_at is None:
                conn.typing_at = {}
            if now - conn.typing_at.get(cid, 0.0) < TYPING_INTERVAL:
                return ok(throttled=True)
            conn.typing_at[cid] = now
        elif conn.typing_at:
            conn.typing_at.pop(cid, None)
        others = [member_room(cid, m) for m in await conversations.members(self._db, cid) if m != conn.user_id]
        if others:
            await self._signal(ChatSignal(
                cid, "typing", {"conversation_id": str(cid), "user_id": str(conn.user_id), "state": p.state}, others,
            ))
        return ok(throttled=False)
