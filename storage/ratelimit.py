"""Token-bucket rate limits, shared through Redis or kept in memory for one process.

Shared state over Redis is storage's business: the server throttles logins and
channels throttles chat with the same limiter, which the server creates.

`take(key, rate)` spends one token and returns 0.0 when allowed, otherwise the
seconds until a token is available. The Redis version runs as one Lua script,
so concurrent processes cannot both spend the last token.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from .redis_batch import Batched
from .settings import Rate

log = logging.getLogger(__name__)

_BUCKET_LUA = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * per_second)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / per_second
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', key, math.ceil(capacity / per_second) + 1)
return tostring(wait)
"""


_PEEK_LUA = """
local capacity = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if not state[1] then return tostring(capacity) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return tostring(math.min(capacity, tonumber(state[1]) + (now - tonumber(state[2])) * tonumber(ARGV[2])))
"""


class RateLimiter(Protocol):
    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        """Spend `cost` tokens from bucket `key`; 0.0 if allowed, else seconds to wait."""
        ...

    async def peek(self, key: str, rate: Rate) -> float:
        """The tokens bucket `key` holds now (`rate.burst` if untouched), spending none."""
        ...


class MemoryRateLimiter:
    """Buckets in a bounded LRU map, for a single process without Redis."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        now = time.monotonic()
        tokens, at = self._buckets.pop(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - at) * rate.per_second)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / rate.per_second
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    async def peek(self, key: str, rate: Rate) -> float:
        tokens, at = self._buckets.get(key, (float(rate.burst), time.monotonic()))
        return min(float(rate.burst), tokens + (time.monotonic() - at) * rate.per_second)


class RedisRateLimiter:
    """Buckets in Redis hashes that expire once full again, shared by every process.

    While Redis cannot be reached, limits are enforced per process instead
    (each process's own buckets), so an outage neither blocks every request
    nor lifts the limits.
    """

    def __init__(self, redis: Redis, prefix: str, *, batched: Batched | None = None) -> None:
        """`batched`: the process's shared pipeline to Redis (its own if not given), so a chat send's check
        shares a round trip with the other checks and publications meanwhile."""
        self._script = redis.register_script(_BUCKET_LUA)
        self._peek = redis.register_script(_PEEK_LUA)
        self._batched = batched or Batched(redis)
        self._prefix = f"{prefix}:rl:"
        self._fallback = MemoryRateLimiter()

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        keys, args = [self._prefix + key], [rate.burst, rate.per_second, cost]
        try:
            try:
                wait = await self._batched.execute("EVALSHA", self._script.sha, 1, *keys, *args)
            except NoScriptError:  # Redis restarted and forgot it: this call loads it again
                wait = await self._script(keys=keys, args=args)
        except (RedisError, OSError):
            log.warning("rate limiter falling back to per-process buckets", extra={"event": "ratelimit_fallback"})
            return await self._fallback.take(key, rate, cost)
        return float(wait)

    async def peek(self, key: str, rate: Rate) -> float:
        try:
            return float(await self._peek(keys=[self._prefix + key], args=[rate.burst, rate.per_second]))
        except (RedisError, OSError):
            log.warning("rate limiter falling back to per-process buckets", extra={"event": "ratelimit_fallback"})
            return await self._fallback.peek(key, rate)
