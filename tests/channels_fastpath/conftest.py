"""Fixtures for the channels.broadcast fast-path tests.

Every test runs a real python-socketio AsyncServer on aiohttp, on a free
loopback port, with the adapter installed; clients are real python-socketio
AsyncClients, raw sockets, or the official Node socket.io-client.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

from channels import broadcast

from ..support.tools import require

ROOT = Path(__file__).resolve().parents[2]
FANOUT = ROOT / "bench" / "fanout"
ROOM = "r"


@dataclass
class Served:
    sio: socketio.AsyncServer
    fb: broadcast.FastBroadcast | None
    url: str
    port: int
    runner: web.AppRunner
    disconnects: dict[str, str] = field(default_factory=dict)
    connected: list[str] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        await self.sio.shutdown()
        if broadcast.get(self.sio) is not None:
            await self.fb.shutdown()
        await self.runner.cleanup()
        if self.fb is not None:
            await self.fb.shutdown()  # also after uninstall()


async def start_server(serializer: str = "default", fast: bool = True,
                       ping_interval: float = 25, ping_timeout: float = 20,
                       client_manager: Any = None, direct_route: bool = True,
                       **install_kwargs: Any) -> Served:
    sio = socketio.AsyncServer(async_mode="aiohttp", serializer=serializer,
                               ping_interval=ping_interval,
                               ping_timeout=ping_timeout,
                               client_manager=client_manager)
    app = web.Application()
    if fast and direct_route:
        install_kwargs["app"] = app  # install attaches sio itself
    else:
        sio.attach(app)
    fb = broadcast.install(sio, **install_kwargs) if fast else None
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    served = Served(sio=sio, fb=fb, url=f"http://127.0.0.1:{port}", port=port,
                    runner=runner)

    @sio.event
    async def connect(sid, environ, auth):
        if not (isinstance(auth, dict) and auth.get("role") == "publisher"):
            await sio.enter_room(sid, ROOM)
        served.connected.append(sid)

    @sio.event
    async def disconnect(sid, reason):
        served.disconnects[sid] = reason
        served.disconnected.set()

    @sio.on("publish")
    async def publish(sid, payload):
        await sio.emit("bcast", payload, room=ROOM)
        return {"ok": True, "n": len(sio.manager.rooms.get("/", {}).get(ROOM, ()))}

    @sio.on("echo")
    async def echo(sid, *args):
        return args if len(args) != 1 else args[0]

    return served


@pytest.fixture
async def server_factory():
    started: list[Served] = []

    async def make(**kwargs: Any) -> Served:
        s = await start_server(**kwargs)
        started.append(s)
        return s

    yield make
    for s in started:
        await s.close()


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """bench/fanout/node_modules with the pinned socket.io(-client) versions
    (installed from the committed package-lock.json when missing)."""
    require([t for t in ("node", "npm") if shutil.which(t) is None], "the official-client tests")
    nm = FANOUT / "node_modules"
    if not (nm / "socket.io-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FANOUT,
                       check=True, capture_output=True, timeout=300)
    return nm
