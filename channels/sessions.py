"""Sockets stay signed in only as long as their login session: token refresh, and revocations from any process.

A socket presents a fresh token (`auth:refresh`) before its current one
expires (the hub warns and expires it; channels/connections.py). When a
login session is revoked on any process (logout, refresh-token reuse), the
bus says so and this process disconnects that session's sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from storage.bus import Bus
from storage.bus_messages import AUTH, SessionRevoked, decode_auth

from .connections import Conn
from .hub import Hub
from .identity import Authenticate
from .interface import EventError, ok
from .payloads import AuthRefresh


class SocketSessions:
    """Token refresh and session revocation for the sockets of this process."""

    def __init__(self, hub: Hub, authenticate: Authenticate) -> None:
        self._hub = hub
        self._authenticate = authenticate
        hub.on("auth:refresh", AuthRefresh, self.refresh)

    @classmethod
    @asynccontextmanager
    async def running(cls, hub: Hub, bus: Bus, authenticate: Authenticate) -> AsyncIterator[SocketSessions]:
        """Handle refreshes, and revocations announced on `bus`, until the block exits."""
        sessions = cls(hub, authenticate)
        await bus.subscribe(AUTH, sessions._on_auth)
        yield sessions

    async def refresh(self, conn: Conn, p: AuthRefresh) -> dict[str, Any]:
        """Move the socket to a fresh token of the same account (a refused token answers with its code)."""
        identity = await self._authenticate(p.token)
        if identity.user_id != conn.user_id:
            raise EventError("wrong_user", "That token belongs to another account.")
        self._hub.conns.reauthenticated(conn, identity.session_id, identity.expires_at)
        return ok(expires_at=conn.expires_at)

    async def _on_auth(self, _: str, data: bytes) -> None:
        revoked = decode_auth(data)
        if not isinstance(revoked, SessionRevoked):
            return
        for conn in self._hub.conns.of_session(revoked.session_id):
            await self._hub.drop(conn.sid, "token_revoked", "This session was signed out.")
