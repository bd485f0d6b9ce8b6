"""The reference for bench/me_throughput.py: a bare aiohttp handler on uvloop returning fixed JSON."""

import sys

import uvloop
from aiohttp import web

BODY = sys.argv[2].encode()


async def me(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_get("/api/v1/me", me)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, loop=uvloop.new_event_loop())
