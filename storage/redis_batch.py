"""Redis commands issued while a round trip is in flight go out together, as one pipeline.

Why: every chat message costs a rate-limit check and a publication. Sent one
by one, each command holds a pooled connection for a round trip and pays
redis-py's per-command overhead; at a few thousand messages a second that was
a third of a server's CPU, most of it waiting in the connection pool. Here the
first command of a burst goes out at once (in the next loop turn), and the
ones that arrive while it is on the wire wait and go in the next pipeline:
batches grow with load, and an idle server adds no delay.

One pipeline is in flight at a time, so commands reach Redis in the order
they were issued; publications on a channel therefore stay in order. A
pipeline that fails (Redis gone) fails each of its commands with the same
error, and the callers decide what that means (the bus holds its messages,
the rate limiter falls back to local buckets).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

_MAX_BATCH = 1000


class Batched:
    """One Redis client's commands, sent in pipelines of whatever accumulated during the last round trip."""

    def __init__(self, redis: Redis | RedisCluster) -> None:
        self._redis = redis
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def execute(self, *command: Any) -> Any:
        """Run one command (`"SPUBLISH", channel, data`, say) in the next pipeline; its reply, or its error."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((command, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(), name="redis-batch")
        return await future

    async def _send(self) -> None:
        try:
            await asyncio.sleep(0)  # let the rest of this loop turn add its commands
            while self._waiting:
                batch, self._waiting = self._waiting[:_MAX_BATCH], self._waiting[_MAX_BATCH:]
                await self._pipeline(batch)
        except asyncio.CancelledError:  # shutting down: nobody will send what still waits
            for _, future in self._waiting:
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._sender = None

    async def _pipeline(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for command, _ in batch:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
