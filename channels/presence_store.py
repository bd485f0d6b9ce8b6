"""Presence: online, away or offline per user, aggregated over every device and process.

Each connected socket holds an entry with a deadline; processes refresh their
sockets' deadlines with a heartbeat. A sweep re-examines each user when their
earliest deadline passes. A user is online if any entry says
online, away if all live entries say away, offline when none is live. Entries
of a killed process stop being refreshed and expire, and a periodic sweep
turns their users offline (within `ttl` plus one sweep interval).

Every update returns the user's change of aggregate state, if any. With Redis
the update and the sweep are Lua scripts, so exactly one process observes each
change and announces it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Change:
    user_id: uuid.UUID
    state: str
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class Status:
    state: str
    last_seen: float | None


class PresenceStore(Protocol):
    async def update(self, user_id: uuid.UUID, sid: str, state: str | None) -> Change | None:
        """Set (or with None remove) one socket's entry; return the user's change of state."""
        ...

    async def heartbeat(self, entries: list[tuple[uuid.UUID, str, str]]) -> None:
        """Push back the deadline of live sockets: (user, sid, state)."""
        ...

    async def sweep(self) -> list[Change]:
        """Expire entries past their deadline; return users who went offline."""
        ...

    async def status(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Status]:
        ...


def _aggregate(states: list[str]) -> str:
    if "online" in states:
        return "online"
    return "away" if states else "offline"


class MemoryPresence:
    """One process, no Redis: the same rules on dictionaries."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[uuid.UUID, dict[str, tuple[str, float]]] = {}
        self._state: dict[uuid.UUID, str] = {}
        self._seen: dict[uuid.UUID, float] = {}

    def _settle(self, user_id: uuid.UUID, now: float) -> Change | None:
        entries = self._entries.get(user_id, {})
        for sid in [s for s, (_, deadline) in entries.items() if deadline <= now]:
            del entries[sid]
        new = _aggregate([state for state, _ in entries.values()])
        if not entries:
            self._entries.pop(user_id, None)
        old = self._state.get(user_id, "offline")
        if new == old:
            return None
        if new == "offline":
            self._state.pop(user_id, None)
            self._seen[user_id] = time.time()
        else:
            self._state[user_id] = new
        return Change(user_id, new, self._seen.get(user_id))

    async def update(self, user_id: uuid.UUID, sid: str, state: str | None) -> Change | None:
        now = time.monotonic()
        entries = self._entries.setdefault(user_id, {})
        if state is None:
            entries.pop(sid, None)
        else:
            entries[sid] = (state, now + self._ttl)
        return self._settle(user_id, now)

    async def heartbeat(self, entries: list[tuple[uuid.UUID, str, str]]) -> None:
        deadline = time.monotonic() + self._ttl
        for user_id, sid, state in entries:
            self._entries.setdefault(user_id, {})[sid] = (state, deadline)

    async def sweep(self) -> list[Change]:
        now = time.monotonic()
        return [c for u in list(self._entries) if (c := self._settle(u, now)) is not None]

    async def status(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Status]:
        return {u: Status(self._state.get(u, "offline"), self._seen.get(u)) for u in user_ids}


# KEYS: entries hash of the user, deadlines zset, states hash, last-seen hash.
# ARGV: user id, sid, state ('' removes), ttl ms.  Returns {state, last_seen} or nil.
_SETTLE = """
local function settle(entries, deadlines, states, seen, user, now)
  local fields = redis.call('HGETALL', entries)
  local online, away, earliest = false, false, nil
  for i = 1, #fields, 2 do
    local state, deadline = string.match(fields[i + 1], '^(%a+)|(%d+)$')
    deadline = tonumber(deadline)
    if deadline <= now then
      redis.call('HDEL', entries, fields[i])
    else
      if state == 'online' then online = true else away = true end
      if earliest == nil or deadline < earliest then earliest = deadline end
    end
  end
  local new = online and 'online' or (away and 'away' or 'offline')
  local old = redis.call('HGET', states, user) or 'offline'
  if new == 'offline' then
    redis.call('ZREM', deadlines, user)
  else
    redis.call('ZADD', deadlines, earliest, user)
  end
  if new == old then return nil end
  if new == 'offline' then
    redis.call('HDEL', states, user)
    redis.call('HSET', seen, user, now)
  else
    redis.call('HSET', states, user, new)
  end
  return {new, redis.call('HGET', seen, user) or ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_UPDATE = _SETTLE + """
local entries = KEYS[1] .. ARGV[1]
if ARGV[3] == '' then
  redis.call('HDEL', entries, ARGV[2])
else
  redis.call('HSET', entries, ARGV[2], ARGV[3] .. '|' .. (now + tonumber(ARGV[4])))
end
redis.call('PEXPIRE', entries, tonumber(ARGV[4]) * 4)
return settle(entries, KEYS[2], KEYS[3], KEYS[4], ARGV[1], now)
"""

_HEARTBEAT = _SETTLE + """
local deadline = now + tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local entries = KEYS[1] .. ARGV[i]
  redis.call('HSET', entries, ARGV[i + 1], ARGV[i + 2] .. '|' .. deadline)
  redis.call('PEXPIRE', entries, tonumber(ARGV[1]) * 4)
end
return 0
"""

_SWEEP = _SETTLE + """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 500)
local out = {}
for _, user in ipairs(due) do
  local change = settle(KEYS[1] .. user, KEYS[2], KEYS[3], KEYS[4], user, now)
  if change then table.insert(out, user); table.insert(out, change[1]); table.insert(out, change[2]) end
end
return out
"""


class RedisPresence:
    """Presence shared by every process through Redis."""

    def __init__(self, redis: Redis, prefix: str, ttl: float) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl * 1000)
        base = f"{prefix}:presence:"
        self._keys = [base + "entries:", base + "deadlines", base + "states", base + "seen"]
        self._update = redis.register_script(_UPDATE)
        self._heartbeat = redis.register_script(_HEARTBEAT)
        self._sweep = redis.register_script(_SWEEP)

    @staticmethod
    def _seen(raw: bytes | str | None) -> float | None:
        return int(raw) / 1000 if raw not in (None, b"", "") else None  # type: ignore[arg-type]

    async def update(self, user_id: uuid.UUID, sid: str, state: str | None) -> Change | None:
        result = await self._update(keys=self._keys, args=[str(user_id), sid, state or "", self._ttl_ms])
        return None if result is None else Change(user_id, result[0].decode(), self._seen(result[1]))

    async def heartbeat(self, entries: list[tuple[uuid.UUID, str, str]]) -> None:
        for start in range(0, len(entries), 500):
            chunk = entries[start : start + 500]
            args: list[str | int] = [self._ttl_ms]
            for user_id, sid, state in chunk:
                args += [str(user_id), sid, state]
            await self._heartbeat(keys=self._keys, args=args)

    async def sweep(self) -> list[Change]:
        flat = await self._sweep(keys=self._keys, args=[])
        return [
            Change(uuid.UUID(flat[i].decode()), flat[i + 1].decode(), self._seen(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def status(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Status]:
        if not user_ids:
            return {}
        ids = [str(u) for u in user_ids]
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(self._keys[2], ids)
        pipe.hmget(self._keys[3], ids)
        states, seen = await pipe.execute()
        return {
            u: Status(s.decode() if s else "offline", self._seen(ls)) for u, s, ls in zip(user_ids, states, seen)
        }
