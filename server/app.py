"""Builds the aiohttp application: routes, middleware, and the lifespan of the Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from . import openapi
from .api import auth, ops, users
from .config import Settings
from .logs import AccessLog
from .metrics import Metrics
from .middleware import make_observe
from .routing import RUNTIME, install
from .runtime import running

MAX_BODY = 1024 * 1024
VERSION = "0.1.0"


def build_app(settings: Settings) -> web.Application:
    """The whole server as one aiohttp application; resources open when it starts."""
    access_log = AccessLog(enabled=settings.log_level in ("debug", "info"))
    app = web.Application(middlewares=[make_observe(access_log)], client_max_size=MAX_BODY)
    metrics = Metrics()

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with running(settings, metrics) as runtime:
            app[RUNTIME] = runtime
            yield

    app.cleanup_ctx.append(lifespan)
    routes = install(app, [auth.routes, users.routes])
    ops.install(app, openapi.build(routes, title="Klear Karma API", version=VERSION, extra_paths=ops.documented_paths()))
    return app
