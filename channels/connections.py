"""Who is on each socket of this process, and keeping them authenticated.

A socket connects with `{token}` in its auth payload and is refused with a
`connect_error` carrying a code if the token is missing, forged, expired or
revoked. Once connected it must present a fresh token (`auth:refresh`) before
its current one expires; 30 s before (or half-way, for short-lived tokens) it
is told `auth:expiring`, and at expiry it is told `auth:expired` and
disconnected. A socket whose login
session is revoked (logout, refresh-token theft) is disconnected the same way.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

WARN_BEFORE = 30.0
log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Conn:
    """One connected socket of this process."""

    sid: str
    endpoint: Any
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: float
    # Immutable and shared while empty (most idle sockets): memory per connection counts.
    joined: frozenset[uuid.UUID] = frozenset()
    subscribed: frozenset[tuple[str, uuid.UUID]] = frozenset()
    state: str = "online"
    typing_at: dict[uuid.UUID, float] | None = None
    events: frozenset[str] | None = None  # an app's socket: only these client events (channels/identity.py)


Expire = Callable[[Conn, str], Awaitable[None]]
Warn = Callable[[Conn], Awaitable[None]]


class Connections:
    """The registry of this process's sockets, by sid and login session, and their token deadlines.

    Deadlines live in one heap watched by one task (`watch`), rather than a
    timer per socket: a TimerHandle costs about 600 bytes, a heap entry about
    80, and idle sockets are what a process holds most of.
    """

    def __init__(self, on_expired: Expire, on_expiring: Warn, *, tick: float = 0.5) -> None:
        self.by_sid: dict[str, Conn] = {}
        self._by_session: dict[uuid.UUID, list[str]] = {}
        self._per_user: dict[uuid.UUID, int] = {}
        self._on_expired = on_expired
        self._on_expiring = on_expiring
        self._tick = tick
        self._deadlines: list[tuple[float, bool, str, float]] = []  # (when, expired?, sid, for expires_at)

    def __len__(self) -> int:
        return len(self.by_sid)

    def add(self, conn: Conn) -> None:
        self.by_sid[conn.sid] = conn
        self._per_user[conn.user_id] = self._per_user.get(conn.user_id, 0) + 1
        self._by_session.setdefault(conn.session_id, []).append(conn.sid)
        self._schedule(conn)

    def remove(self, sid: str) -> Conn | None:
        conn = self.by_sid.pop(sid, None)
        if conn is not None:
            self._forget_session(conn.session_id, sid)
            left = self._per_user[conn.user_id] - 1
            if left:
                self._per_user[conn.user_id] = left
            else:
                del self._per_user[conn.user_id]
        return conn

    def count_of(self, user_id: uuid.UUID) -> int:
        """How many sockets `user_id` has on this process."""
        return self._per_user.get(user_id, 0)

    def sessions(self) -> list[uuid.UUID]:
        """The login sessions behind this process's sockets."""
        return list(self._by_session)

    def _forget_session(self, session_id: uuid.UUID, sid: str) -> None:
        sids = self._by_session.get(session_id)
        if sids is not None and sid in sids:
            sids.remove(sid)
            if not sids:
                del self._by_session[session_id]

    def reauthenticated(self, conn: Conn, session_id: uuid.UUID, expires_at: float) -> None:
        """The socket presented a new token: move it to that session and expiry."""
        self._forget_session(conn.session_id, conn.sid)
        conn.session_id, conn.expires_at = session_id, expires_at
        self._by_session.setdefault(session_id, []).append(conn.sid)
        self._schedule(conn)

    def of_session(self, session_id: uuid.UUID) -> list[Conn]:
        return [self.by_sid[s] for s in self._by_session.get(session_id, ()) if s in self.by_sid]

    def _schedule(self, conn: Conn) -> None:
        """Queue the socket's warning (30 s before expiry, or half-way for short tokens) and its expiry."""
        left = conn.expires_at - time.time()
        heapq.heappush(self._deadlines, (conn.expires_at - min(WARN_BEFORE, left / 2), False, conn.sid, conn.expires_at))
        heapq.heappush(self._deadlines, (conn.expires_at, True, conn.sid, conn.expires_at))

    async def watch(self) -> None:
        """Run forever: warn and expire sockets as their deadlines pass."""
        while True:
            await asyncio.sleep(self._tick)
            now = time.time()
            while self._deadlines and self._deadlines[0][0] <= now:
                _, expired, sid, for_expiry = heapq.heappop(self._deadlines)
                conn = self.by_sid.get(sid)
                if conn is None or conn.expires_at != for_expiry:
                    continue  # gone, or re-authenticated since: a newer entry covers it
                try:
                    await (self._on_expired(conn, "token_expired") if expired else self._on_expiring(conn))
                except Exception:
                    log.exception("token deadline handling failed")
