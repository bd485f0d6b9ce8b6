"""Sockets stay signed in only as long as their login session: token refresh, and revocations from any process.

A socket presents a fresh token (`auth:refresh`) before its current one
expires (the hub warns and expires it; channels/connections.py). When a
login session is revoked on any process (logout, refresh-token reuse), the
bus says so and this process disconnects that session's sockets. The bus
loses what is published while Redis is down, so whenever it reconnects this
process checks every session it holds sockets of against PostgreSQL, the
durable record, and disconnects those revoked meanwhile.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from storage import accounts
from storage.bus import Bus
from storage.bus_messages import AUTH, SessionRevoked, decode_auth
from storage.database import Database

from .connections import Conn
from .hub import Hub
from .identity import Authenticate
from .interface import EventError, ok
from .payloads import AuthRefresh
from .times import iso_time

log = logging.getLogger(__name__)
REVOKED_MESSAGE = "This session was signed out."
CHECK_BATCH = 5000


class SocketSessions:
    """Token refresh and session revocation for the sockets of this process."""

    def __init__(self, hub: Hub, db: Database, authenticate: Authenticate) -> None:
        self._hub = hub
        self._db = db
        self._authenticate = authenticate
        hub.on("auth:refresh", AuthRefresh, self.refresh)

    @classmethod
    @asynccontextmanager
    async def running(cls, hub: Hub, db: Database, bus: Bus, authenticate: Authenticate) -> AsyncIterator[SocketSessions]:
        """Handle refreshes, and revocations announced on `bus` or missed while it was down, until the block exits."""
        sessions = cls(hub, db, authenticate)
        await bus.subscribe(AUTH, sessions._on_auth)
        bus.on_reconnect(sessions.drop_revoked)
        yield sessions

    async def drop_revoked(self) -> None:
        """Disconnect the sockets of every session revoked in PostgreSQL (announcements may have been lost)."""
        held = self._hub.conns.sessions()
        revoked: set[uuid.UUID] = set()
        for start in range(0, len(held), CHECK_BATCH):
            revoked |= await accounts.revoked_sessions(self._db, held[start : start + CHECK_BATCH])
        dropped = 0
        for session_id in revoked:
            for conn in self._hub.conns.of_session(session_id):
                await self._hub.drop(conn.sid, "token_revoked", REVOKED_MESSAGE)
                dropped += 1
        log.info("sessions re-checked after a bus outage",
                 extra={"event": "sessions_rechecked", "count": dropped})

    async def refresh(self, conn: Conn, p: AuthRefresh) -> dict[str, Any]:
        """Move the socket to a fresh token of the same account (a refused token answers with its code)."""
        identity = await self._authenticate(p.token)
        if identity.user_id != conn.user_id:
            raise EventError("wrong_user", "That token belongs to another account.")
        if identity.events != conn.events:
            raise EventError("insufficient_scope", "That token allows other events than this socket's; reconnect with it.")
        self._hub.conns.reauthenticated(conn, identity.session_id, identity.expires_at)
        return ok(expires_at=iso_time(conn.expires_at))

    async def _on_auth(self, _: str, data: bytes) -> None:
        revoked = decode_auth(data)
        if not isinstance(revoked, SessionRevoked):
            return
        for conn in self._hub.conns.of_session(revoked.session_id):
            await self._hub.drop(conn.sid, "token_revoked", REVOKED_MESSAGE)
