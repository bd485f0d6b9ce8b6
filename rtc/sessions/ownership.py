"""Which process hosts each live video session.

A session's media must meet on one process (its peer connections and
forwarders live there), while its participants' sockets may land on any
process. The first process to claim a session id hosts it; everyone else
reads the owner and relays to it (see ``rtc.sessions.relay``). A claim is a Redis key
with a TTL that its owner refreshes; an owner that dies stops refreshing and
its sessions can be claimed again within the TTL. An owner that finds it has
lost a key (Redis was flushed and someone else claimed the session) closes its
copy, so two processes never host one session for long.

Without Redis there is one process, and a dictionary does the same.
"""

from __future__ import annotations

import time
import uuid
from typing import Protocol

from redis.asyncio import Redis

TTL = 15.0


class Ownership(Protocol):
    async def claim(self, session_id: uuid.UUID) -> str:
        """Claim `session_id` for this process unless another holds it; return the owner."""
        ...

    async def owner(self, session_id: uuid.UUID) -> str | None:
        """The process that hosts `session_id` now, if any (claims nothing)."""
        ...

    async def refresh(self, session_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Extend this process's claims; return the sessions it no longer owns."""
        ...

    async def release(self, session_id: uuid.UUID) -> None:
        """Give up a claim (only if this process still holds it)."""
        ...


class MemoryOwnership:
    """One process (no Redis, so no other process can exist): every claim is ours."""

    def __init__(self, process_id: str) -> None:
        self._me = process_id

    async def claim(self, session_id: uuid.UUID) -> str:
        return self._me

    async def owner(self, session_id: uuid.UUID) -> str | None:
        return self._me

    async def refresh(self, session_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        return []

    async def release(self, session_id: uuid.UUID) -> None:
        return None


# KEYS[1]: the session's key. ARGV: this process, ttl ms. Returns the owner.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return owner
"""
# KEYS: session keys. ARGV: this process, ttl ms. Returns the indexes (1-based) of keys another process holds.
_REFRESH = """
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisOwnership:
    """Claims shared by every process through Redis keys with a TTL."""

    def __init__(self, redis: Redis, prefix: str, process_id: str, ttl: float = TTL) -> None:
        self._me = process_id
        self._redis = redis
        self._prefix = f"{prefix}:rtc:owner:"
        self._ttl_ms = int(ttl * 1000)
        self._claim = redis.register_script(_CLAIM)
        self._refresh = redis.register_script(_REFRESH)
        self._release = redis.register_script(_RELEASE)

    def _key(self, session_id: uuid.UUID) -> str:
        return f"{self._prefix}{session_id}"

    async def claim(self, session_id: uuid.UUID) -> str:
        owner = await self._claim(keys=[self._key(session_id)], args=[self._me, self._ttl_ms])
        return owner.decode() if isinstance(owner, bytes) else str(owner)

    async def owner(self, session_id: uuid.UUID) -> str | None:
        found = await self._redis.get(self._key(session_id))
        return found.decode() if isinstance(found, bytes) else found

    async def refresh(self, session_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        lost: list[uuid.UUID] = []
        for start in range(0, len(session_ids), 200):
            chunk = session_ids[start : start + 200]
            indexes = await self._refresh(keys=[self._key(s) for s in chunk], args=[self._me, self._ttl_ms])
            lost.extend(chunk[int(i) - 1] for i in indexes)
        return lost

    async def release(self, session_id: uuid.UUID) -> None:
        await self._release(keys=[self._key(session_id)], args=[self._me])


def refresh_interval(ttl: float = TTL) -> float:
    """How often an owner refreshes: a third of the TTL, so two refreshes may fail before a claim lapses."""
    return ttl / 3


def new_process_id() -> str:
    """A fresh id for this process's lifetime (a restarted process is a new owner)."""
    return f"{uuid.uuid4().hex[:12]}-{int(time.time())}"
