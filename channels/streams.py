"""In-order, gap-free delivery of each conversation's messages to this process's sockets.

Messages are committed with a per-conversation `seq` by whichever process
took the send, then announced to every process over the bus. Announcements
from different processes can arrive out of order, and can be lost while Redis
is away, so each process keeps, per conversation that has local listeners, the
highest seq it has delivered to its room:

- an announcement for the next seq is delivered at once, followed by any
  held ones that now follow on;
- a later one is held; if the gap is not filled within `gap_timeout`, the
  missing messages are read from PostgreSQL (a higher seq is only ever
  committed after every lower one, so they are there);
- an announcement at or below the delivered seq is a duplicate and dropped;
- after the bus reconnects, every stream catches up from PostgreSQL.

A socket joining with the last seq it saw first receives what it missed, read
from PostgreSQL, and enters the room only at a point where nothing newer has
been delivered to the room, with no await in between. So it gets every missed
message, in order, before any live one, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from storage import messages
from storage.database import Database
from storage.messages import Message

log = logging.getLogger(__name__)

Deliver = Callable[[uuid.UUID, Message], Awaitable[None]]
SendOne = Callable[[Message], Awaitable[None]]
MAX_BACKLOG = 1000
_PAGE = 200


@dataclass(slots=True)
class _Stream:
    delivered: int
    listeners: set[str] = field(default_factory=set)
    held: dict[int, Message] = field(default_factory=dict)
    gap_task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class Attached:
    """What a joining socket was sent: `sent` messages up to `upto`; older ones skipped if `truncated_before`."""

    sent: int
    upto: int
    truncated_before: int | None


class Streams:
    """The per-conversation delivery state of this process."""

    def __init__(self, db: Database, deliver: Deliver, *, gap_timeout: float = 0.15) -> None:
        self._db = db
        self._deliver = deliver
        self._gap_timeout = gap_timeout
        self._streams: dict[uuid.UUID, _Stream] = {}
        self._opening: dict[uuid.UUID, asyncio.Future[_Stream]] = {}
        self._early: dict[uuid.UUID, list[Message]] = {}

    def __len__(self) -> int:
        return len(self._streams)

    async def committed(self, message: Message) -> None:
        """A message was stored (here or by another process): deliver it in order."""
        stream = self._streams.get(message.conversation_id)
        if stream is None:
            if message.conversation_id in self._opening:
                self._early.setdefault(message.conversation_id, []).append(message)
            return
        await self._accept(message.conversation_id, stream, [message])

    async def _accept(self, cid: uuid.UUID, stream: _Stream, batch: list[Message]) -> None:
        for m in batch:
            if m.seq > stream.delivered:
                stream.held[m.seq] = m
        while (nxt := stream.held.pop(stream.delivered + 1, None)) is not None:
            stream.delivered = nxt.seq
            await self._deliver(cid, nxt)
        if stream.held and stream.gap_task is None:
            stream.gap_task = asyncio.create_task(self._fill_gap(cid, stream), name="stream-gap")

    async def _fill_gap(self, cid: uuid.UUID, stream: _Stream) -> None:
        try:
            await asyncio.sleep(self._gap_timeout)
            while stream.held and self._streams.get(cid) is stream:
                upto = max(stream.held)
                missing = await messages.between(self._db, cid, stream.delivered, upto, _PAGE)
                if not missing:
                    break
                log.info("filled a delivery gap from the database", extra={"conversation_id": str(cid), "count": len(missing)})
                stream.gap_task = None
                await self._accept(cid, stream, missing)
                return
        finally:
            if stream.gap_task is asyncio.current_task():
                stream.gap_task = None

    async def _open(self, cid: uuid.UUID) -> _Stream:
        existing = self._streams.get(cid)
        if existing is not None:
            return existing
        opening = self._opening.get(cid)
        if opening is not None:
            return await asyncio.shield(opening)
        fut: asyncio.Future[_Stream] = asyncio.get_running_loop().create_future()
        self._opening[cid] = fut
        try:
            last = await self._last_seq(cid)
            stream = _Stream(delivered=last)
            self._streams[cid] = stream
            fut.set_result(stream)
            await self._accept(cid, stream, self._early.pop(cid, []))
            return stream
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved here; waiters get it through shield
            raise
        finally:
            self._opening.pop(cid, None)
            self._early.pop(cid, None)

    async def _last_seq(self, cid: uuid.UUID) -> int:
        row = await self._db.fetchrow("streams.last_seq", "SELECT last_seq FROM conversations WHERE id = $1", cid)
        return int(row["last_seq"]) if row else 0

    async def attach(self, cid: uuid.UUID, sid: str, last_seq: int, send: SendOne, enter_room: Callable[[], None]) -> Attached:
        """Send `sid` what it missed after `last_seq`, then put it in the room, with nothing lost between."""
        stream = await self._open(cid)
        stream.listeners.add(sid)
        upto = min(last_seq, stream.delivered)
        truncated: int | None = None
        if stream.delivered - upto > MAX_BACKLOG:
            upto = stream.delivered - MAX_BACKLOG
            truncated = upto + 1
        sent = 0
        while stream.delivered > upto:
            page = await messages.between(self._db, cid, upto, stream.delivered, _PAGE)
            if not page:
                break
            for m in page:
                await send(m)
            sent += len(page)
            upto = page[-1].seq
        # No await since the loop's last check: nothing newer reached the room in between.
        enter_room()
        return Attached(sent, upto, truncated)

    def detach(self, cid: uuid.UUID, sid: str) -> None:
        """`sid` left the room (or disconnected); forget the stream once nobody here listens."""
        stream = self._streams.get(cid)
        if stream is None:
            return
        stream.listeners.discard(sid)
        if not stream.listeners:
            del self._streams[cid]
            if stream.gap_task is not None:
                stream.gap_task.cancel()

    async def catch_up(self) -> None:
        """After a bus outage: read from PostgreSQL whatever was announced while we could not hear it."""
        for cid, stream in list(self._streams.items()):
            while self._streams.get(cid) is stream:
                page = await messages.between(self._db, cid, stream.delivered, 2**62, _PAGE)
                if not page:
                    break
                await self._accept(cid, stream, page)

    async def close(self) -> None:
        tasks = [s.gap_task for s in self._streams.values() if s.gap_task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._streams.clear()
