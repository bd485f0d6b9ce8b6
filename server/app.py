"""Builds the aiohttp application: routes, middleware, and the lifespan of the Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from channels.service import CHANNELS, Channels
from rtc.service import VIDEO, Video
from scheduler import component as scheduler_component

from . import openapi, webclient
from .api import (
    auth, bookings, calendar, conversations, devices, jobs, notifications, ops, practitioners, presence, users,
)
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
    app[CHANNELS] = channels = Channels(max_pending=settings.socket_max_pending)
    channels.attach(app)

    async def channels_lifespan(app: web.Application) -> AsyncIterator[None]:
        await channels.start(app[RUNTIME])
        yield
        await channels.stop()

    async def close_sockets(app: web.Application) -> None:
        await channels.close_sockets()

    app.cleanup_ctx.append(channels_lifespan)
    app.cleanup_ctx.append(scheduler_component.lifespan)  # after the runtime's: jobs stop before the pool closes
    app[VIDEO] = video = Video(channels)
    app.cleanup_ctx.append(video.lifespan)  # after the scheduler's: sessions close before what they use
    app.on_shutdown.append(close_sockets)
    routes = install(app, [
        auth.routes, users.routes, conversations.routes, devices.routes, presence.routes,
        practitioners.routes, bookings.routes, notifications.routes, calendar.routes, jobs.routes,
    ])
    ops.install(app, openapi.build(routes, title="Klear Karma API", version=VERSION, extra_paths=ops.documented_paths()))
    webclient.install(app)
    return app
