"""The `Server` header: a name, never versions.

aiohttp would send `Python/3.x aiohttp/3.x` on every response, which tells an
attacker which published vulnerabilities to try. It only fills the header in
when a response has none, so setting ours before a response is prepared (the
`on_response_prepare` signal, and the protocol's own error answers in
server/protocol.py) replaces the banner everywhere: API, errors, static files,
Socket.IO handshakes and websocket upgrades.
"""

from __future__ import annotations

from aiohttp import web

SERVER_HEADER = "klear"


async def name_only(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER


def install(app: web.Application) -> None:
    app.on_response_prepare.append(name_only)
