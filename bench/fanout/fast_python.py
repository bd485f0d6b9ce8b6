"""python-socketio + aiohttp + uvloop with the channels.broadcast fast path.

Identical room logic to stock_python.py (it imports it); the only difference
is ``channels.broadcast.install(sio, app=app)`` (which also attaches ``sio``) before the app starts.

Usage: python bench/fanout/fast_python.py [--port 3003] [--msgpack]
"""
from __future__ import annotations

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from channels import broadcast  # noqa: E402
from stock_python import build, parse_args, serve  # noqa: E402


def main() -> None:
    args = parse_args(3003)
    sio, app = build("msgpack" if args.msgpack else "default", attach=False)
    broadcast.install(sio, app=app)
    uvloop.run(serve(sio, app, args.host, args.port, "python-fast"))


if __name__ == "__main__":
    main()
