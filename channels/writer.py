"""Group commit for chat messages: sends that arrive together are stored together.

Each conversation hashes to one of a few lanes. A lane stores one batch at a
time (one `post_messages` round trip) and collects the sends that arrive
meanwhile into its next batch. Under light load a batch is one message and
costs one round trip; under heavy load a round trip stores many. Because a
conversation always uses the same lane, sends to one conversation from this
process are stored in the order they arrived.
"""

from __future__ import annotations

import asyncio
import logging

from storage import messages
from storage.database import Database
from storage.messages import NewMessage, Posted

log = logging.getLogger(__name__)


class _Lane:
    __slots__ = ("queue", "task")

    def __init__(self) -> None:
        self.queue: list[tuple[NewMessage, asyncio.Future[Posted]]] = []
        self.task: asyncio.Task[None] | None = None


class MessageWriter:
    """Stores messages through a fixed number of lanes, each one batch in flight at a time."""

    def __init__(self, db: Database, *, lanes: int = 4, max_batch: int = 256) -> None:
        self._db = db
        self._lanes = [_Lane() for _ in range(lanes)]
        self._max_batch = max_batch
        self._closed = False

    async def post(self, item: NewMessage) -> Posted:
        """Store one message (or find its earlier copy); returns when it is committed."""
        if self._closed:
            raise RuntimeError("message writer is closed")
        lane = self._lanes[hash(item.conversation_id) % len(self._lanes)]
        done: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        lane.queue.append((item, done))
        if lane.task is None:
            lane.task = asyncio.create_task(self._drain(lane), name="message-writer")
        return await done

    async def _drain(self, lane: _Lane) -> None:
        try:
            while lane.queue:
                batch, lane.queue = lane.queue[: self._max_batch], lane.queue[self._max_batch :]
                try:
                    results = await messages.post_batch(self._db, [item for item, _ in batch])
                except Exception as exc:  # the database refused the batch: every sender learns it
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            lane.task = None

    async def close(self) -> None:
        """Refuse new sends and wait for batches in flight to finish."""
        self._closed = True
        await asyncio.gather(*(lane.task for lane in self._lanes if lane.task is not None), return_exceptions=True)
