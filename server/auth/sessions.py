"""A per-process cache of verified access tokens and live login sessions.

Checking every request's session in PostgreSQL costs a round trip; at the
request rates we target that would dominate. Instead each process remembers,
for a few seconds, that a session is live and who its user is.

Revocation stays prompt:
- the process that revokes a session (logout, refresh-token reuse) or changes
  a user drops its entry at once and announces it on the bus;
- every process drops the entry when the announcement arrives (milliseconds);
- if announcements may have been lost (the bus reconnected), the whole cache
  is dropped;
- in any case no entry outlives `ttl` seconds, which bounds staleness even if
  Redis loses a message.
A lookup that raced an invalidation is not cached (an epoch counter).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from storage.accounts import User
from storage.bus import Bus
from storage.bus_messages import AUTH, SessionRevoked, UserChanged, decode_auth

from .tokens import Claims, TokenError, Tokens


class SessionCache:
    """Verified tokens and live sessions, bounded in size and age."""

    def __init__(self, tokens: Tokens, *, ttl: float = 10.0, max_entries: int = 50_000) -> None:
        self._tokens = tokens
        self._ttl = ttl
        self._max = max_entries
        self._claims: OrderedDict[str, Claims] = OrderedDict()
        self._sessions: dict[uuid.UUID, tuple[User, float]] = {}
        self.epoch = 0

    def verify(self, token: str) -> Claims:
        """`Tokens.verify_access`, remembering tokens already verified until they expire."""
        claims = self._claims.get(token)
        if claims is None:
            claims = self._tokens.verify_access(token)
            self._claims[token] = claims
            if len(self._claims) > self._max:
                self._claims.popitem(last=False)
        elif claims.expires_at <= time.time():
            del self._claims[token]
            raise TokenError("token_expired", "The access token has expired; refresh it.")
        return claims

    def user(self, session_id: uuid.UUID) -> User | None:
        """The cached user of a live session, or None if unknown or too old."""
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._sessions[session_id]
            return None
        return entry[0]

    def remember(self, session_id: uuid.UUID, user: User, epoch: int) -> None:
        """Cache a session found live, unless an invalidation happened since `epoch`."""
        if epoch != self.epoch:
            return
        if len(self._sessions) >= self._max:
            self._sessions.clear()
        self._sessions[session_id] = (user, time.monotonic() + self._ttl)

    def forget_session(self, session_id: uuid.UUID) -> None:
        self.epoch += 1
        self._sessions.pop(session_id, None)

    def forget_user(self, user_id: uuid.UUID) -> None:
        self.epoch += 1
        for sid in [sid for sid, (user, _) in self._sessions.items() if user.id == user_id]:
            del self._sessions[sid]

    def clear(self) -> None:
        self.epoch += 1
        self._sessions.clear()

    async def attach(self, bus: Bus) -> None:
        """Apply other processes' invalidations, and drop everything after a bus outage."""

        async def on_event(_: str, data: bytes) -> None:
            message = decode_auth(data)
            if isinstance(message, SessionRevoked):
                self.forget_session(message.session_id)
            else:
                self.forget_user(message.user_id)

        async def on_reconnect() -> None:
            self.clear()

        await bus.subscribe(AUTH, on_event)
        bus.on_reconnect(on_reconnect)

    async def revoke_session(self, bus: Bus, session_id: uuid.UUID) -> None:
        """Forget a session here and tell every other process to."""
        self.forget_session(session_id)
        await bus.publish(AUTH, SessionRevoked(session_id).encode(), retry=True)

    async def user_changed(self, bus: Bus, user_id: uuid.UUID) -> None:
        """Forget a user's cached profile here and everywhere."""
        self.forget_user(user_id)
        await bus.publish(AUTH, UserChanged(user_id).encode(), retry=True)
