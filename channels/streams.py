"""In-order, gap-free delivery of sequenced streams to this process's sockets.

A stream is anything stored in PostgreSQL with a gap-free `seq` per key: a
conversation's messages, a booking's updates, a user's booking feed. Items are
committed by whichever process did the write, delivered by it to its own
sockets, and announced over the bus to the processes that listen to that key:
a process listens to a key only while its stream has local listeners. Announcements from different processes can arrive out of order,
and can be lost while Redis is away, so each process keeps, per stream that
has local listeners, the highest seq it has delivered to the stream's room:

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
item, in order, before any live one, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_BACKLOG = 1000
_PAGE = 200


class Item(Protocol):
    @property
    def seq(self) -> int: ...


class Source(Protocol):
    """Where a kind of stream is stored: its newest seq and a range of its items."""

    async def last_seq(self, key: Any) -> int: ...

    async def between(self, key: Any, after_seq: int, upto_seq: int, limit: int) -> list[Any]:
        """Items with after_seq < seq <= upto_seq, oldest first."""
        ...


Deliver = Callable[[Any, Any], Awaitable[None]]
SendOne = Callable[[Any], Awaitable[None]]
Listen = Callable[[Any], Awaitable[None]]
Unlisten = Callable[[Any], None]


async def _always(_: Any) -> None:
    """The default `listen`: the announcements of every key arrive anyway."""


def _never(_: Any) -> None:
    """The default `unlisten`."""


@dataclass(slots=True)
class _Stream:
    delivered: int
    listeners: set[str] = field(default_factory=set)
    held: dict[int, Any] = field(default_factory=dict)
    gap_task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class Attached:
    """What a joining socket was sent: `sent` messages up to `upto`; older ones skipped if `truncated_before`."""

    sent: int
    upto: int
    truncated_before: int | None


class Streams:
    """The delivery state of this process for one kind of stream, keyed by stream key."""

    def __init__(
        self, source: Source, deliver: Deliver, *, gap_timeout: float = 0.15, listen: Listen = _always,
        unlisten: Unlisten = _never,
    ) -> None:
        """`listen(key)` starts hearing a key's announcements from other processes, and returns once they are
        heard; it is awaited before the stream reads where it stands, so nothing falls between the two.
        `unlisten(key)` stops it when the last local listener leaves."""
        self._source = source
        self._deliver = deliver
        self._listen = listen
        self._unlisten = unlisten
        self._gap_timeout = gap_timeout
        self._streams: dict[Hashable, _Stream] = {}
        self._opening: dict[Hashable, asyncio.Future[_Stream]] = {}
        self._early: dict[Hashable, list[Any]] = {}

    def __len__(self) -> int:
        return len(self._streams)

    async def committed(self, key: Hashable, item: Any) -> None:
        """An item was stored (here or by another process): deliver it in order."""
        stream = self._streams.get(key)
        if stream is None:
            if key in self._opening:
                self._early.setdefault(key, []).append(item)
            return
        await self._accept(key, stream, [item])

    async def _accept(self, cid: Hashable, stream: _Stream, batch: list[Any]) -> None:
        for m in batch:
            if m.seq > stream.delivered:
                stream.held[m.seq] = m
        while (nxt := stream.held.pop(stream.delivered + 1, None)) is not None:
            stream.delivered = nxt.seq
            await self._deliver(cid, nxt)
        if stream.held and stream.gap_task is None:
            stream.gap_task = asyncio.create_task(self._fill_gap(cid, stream), name="stream-gap")

    async def _fill_gap(self, cid: Hashable, stream: _Stream) -> None:
        try:
            await asyncio.sleep(self._gap_timeout)
            while stream.held and self._streams.get(cid) is stream:
                upto = max(stream.held)
                missing = await self._source.between(cid, stream.delivered, upto, _PAGE)
                if not missing:
                    break
                log.info("filled a delivery gap from the database", extra={"count": len(missing)})
                stream.gap_task = None
                await self._accept(cid, stream, missing)
                return
        finally:
            if stream.gap_task is asyncio.current_task():
                stream.gap_task = None

    async def _open(self, cid: Hashable) -> _Stream:
        existing = self._streams.get(cid)
        if existing is not None:
            return existing
        opening = self._opening.get(cid)
        if opening is not None:
            return await asyncio.shield(opening)
        fut: asyncio.Future[_Stream] = asyncio.get_running_loop().create_future()
        self._opening[cid] = fut
        try:
            await self._listen(cid)
            try:
                last = await self._source.last_seq(cid)
            except BaseException:
                self._unlisten(cid)
                raise
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

    async def attach(self, cid: Hashable, sid: str, last_seq: int, send: SendOne, enter_room: Callable[[], None]) -> Attached:
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
            page = await self._source.between(cid, upto, stream.delivered, _PAGE)
            if not page:
                break
            for m in page:
                await send(m)
            sent += len(page)
            upto = page[-1].seq
        # No await since the loop's last check: nothing newer reached the room in between.
        enter_room()
        return Attached(sent, upto, truncated)

    def detach(self, cid: Hashable, sid: str) -> None:
        """`sid` left the room (or disconnected); forget the stream once nobody here listens."""
        stream = self._streams.get(cid)
        if stream is None:
            return
        stream.listeners.discard(sid)
        if not stream.listeners:
            del self._streams[cid]
            self._unlisten(cid)
            if stream.gap_task is not None:
                stream.gap_task.cancel()

    async def catch_up(self) -> None:
        """After a bus outage: read from PostgreSQL whatever was announced while we could not hear it."""
        for cid, stream in list(self._streams.items()):
            while self._streams.get(cid) is stream:
                page = await self._source.between(cid, stream.delivered, 2**62, _PAGE)
                if not page:
                    break
                await self._accept(cid, stream, page)

    async def close(self) -> None:
        tasks = [s.gap_task for s in self._streams.values() if s.gap_task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for cid in self._streams:
            self._unlisten(cid)
        self._streams.clear()
