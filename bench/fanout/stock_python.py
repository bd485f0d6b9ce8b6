"""Stock python-socketio reference server for the fan-out benchmark.

Same room logic as server_node.js, on python-socketio's AsyncServer with the
aiohttp driver and uvloop, all library defaults (so permessage-deflate is
negotiated whenever the client offers it, as aiohttp's WebSocketResponse has
compress=True and engineio's aiohttp driver does not override it):

* a client joins room "bench" on connect, unless its CONNECT auth is
  {"role": "publisher"}; an auth {"token": ...} is kept as the session
  (stand-in for an authenticated user);
* on "publish" (with ack) the payload is broadcast to room "bench" as event
  "bench", then acked with the number of recipients.

Usage: python bench/fanout/stock_python.py [--port 3001] [--msgpack]
Prints one JSON line {"ready": true, ...} once listening.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

import socketio
import uvloop
from aiohttp import web


def build(serializer: str = "default", attach: bool = True) -> tuple[socketio.AsyncServer, web.Application]:
    """The room logic; with `attach=False` the caller attaches `sio` to `app` (the fast path does)."""
    sio = socketio.AsyncServer(async_mode="aiohttp", serializer=serializer)
    app = web.Application()
    if attach:
        sio.attach(app)

    @sio.event
    async def connect(sid, environ, auth):
        auth = auth if isinstance(auth, dict) else {}
        if "token" in auth:
            # stand-in for an authenticated session: what the real server
            # keeps per connection after checking the token
            await sio.save_session(sid, {"user_id": str(auth["token"])})
        if auth.get("role") != "publisher":
            await sio.enter_room(sid, "bench")

    @sio.on("publish")
    async def publish(sid, payload):
        await sio.emit("bench", payload, room="bench")
        return len(sio.manager.rooms.get("/", {}).get("bench", ()))

    return sio, app


async def serve(sio: socketio.AsyncServer, app: web.Application, host: str,
                port: int, name: str) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    print(json.dumps({"ready": True, "server": name, "port": port,
                      "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sio.shutdown()
    fast = getattr(sio, "_klear_fast_broadcast", None)  # set by fast_python.py
    if fast is not None:
        await fast.shutdown()
    await runner.cleanup()


def parse_args(default_port: int) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=default_port)
    ap.add_argument("--msgpack", action="store_true",
                    help="use the msgpack serializer")
    return ap.parse_args()


def main() -> None:
    args = parse_args(3001)
    sio, app = build("msgpack" if args.msgpack else "default")
    uvloop.run(serve(sio, app, args.host, args.port, "python-stock"))


if __name__ == "__main__":
    main()
