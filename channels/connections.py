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
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

WARN_BEFORE = 30.0


@dataclass(slots=True, eq=False)
class Conn:
    """One connected socket of this process."""

    sid: str
    endpoint: Any
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: float
    joined: set[uuid.UUID] = field(default_factory=set)
    subscribed: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    state: str = "online"
    timer: asyncio.TimerHandle | None = None
    typing_at: dict[uuid.UUID, float] = field(default_factory=dict)


Expire = Callable[[Conn, str], Awaitable[None]]
Warn = Callable[[Conn], Awaitable[None]]


class Connections:
    """The registry of this process's sockets, by sid, user and login session."""

    def __init__(self, on_expired: Expire, on_expiring: Warn) -> None:
        self.by_sid: dict[str, Conn] = {}
        self._by_session: dict[uuid.UUID, set[str]] = {}
        self._on_expired = on_expired
        self._on_expiring = on_expiring
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self.by_sid)

    def add(self, conn: Conn) -> None:
        self.by_sid[conn.sid] = conn
        self._by_session.setdefault(conn.session_id, set()).add(conn.sid)
        self.schedule(conn)

    def remove(self, sid: str) -> Conn | None:
        conn = self.by_sid.pop(sid, None)
        if conn is None:
            return None
        if conn.timer is not None:
            conn.timer.cancel()
        sids = self._by_session.get(conn.session_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._by_session[conn.session_id]
        return conn

    def reauthenticated(self, conn: Conn, session_id: uuid.UUID, expires_at: float) -> None:
        """The socket presented a new token: move it to that session and expiry."""
        self._by_session.get(conn.session_id, set()).discard(conn.sid)
        conn.session_id, conn.expires_at = session_id, expires_at
        self._by_session.setdefault(session_id, set()).add(conn.sid)
        self.schedule(conn)

    def of_session(self, session_id: uuid.UUID) -> list[Conn]:
        return [self.by_sid[s] for s in self._by_session.get(session_id, ()) if s in self.by_sid]

    def schedule(self, conn: Conn) -> None:
        """Arm the socket's next token check: a warning, then expiry."""
        if conn.timer is not None:
            conn.timer.cancel()
        loop = asyncio.get_running_loop()
        left = conn.expires_at - time.time()
        warning = min(WARN_BEFORE, left / 2)
        if left > 1.0:
            conn.timer = loop.call_later(left - warning, self._fire, conn, warning)
        else:
            conn.timer = loop.call_later(max(0.0, left), self._fire, conn, None)

    def _fire(self, conn: Conn, remaining: float | None) -> None:
        """`remaining` seconds are left (a warning), or None: the token has expired."""
        if self.by_sid.get(conn.sid) is not conn:
            return
        if remaining is None:
            conn.timer = None
            task = asyncio.ensure_future(self._on_expired(conn, "token_expired"))
        else:
            conn.timer = asyncio.get_running_loop().call_later(remaining, self._fire, conn, None)
            task = asyncio.ensure_future(self._on_expiring(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel every timer and wait for expiry work in progress."""
        for conn in self.by_sid.values():
            if conn.timer is not None:
                conn.timer.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
