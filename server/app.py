"""Builds the aiohttp application: routes, middleware, and the lifespan of the Runtime and the components.

This is the one place that wires components: each receives explicitly what it
needs (pool, bus, its own settings, and what only the server knows, such as
token checking) and is started and stopped here, in dependency order.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from channels import service as channels_service
from channels.available_now import AvailableNow
from channels.hub import Hub
from channels.identity import Identity
from discovery import jobs as discovery_jobs
from records import export as records_export
from records import retention as records_retention
from records.retention import RETENTION_JOB
from rtc.service import Video
from scheduler import bookings as scheduler_bookings
from scheduler import component as scheduler_component
from scheduler import openings
from scheduler.states import Action
from storage import accounts
from storage.exports import EXPORT_JOB

from . import banner, metrics_listener, openapi, webclient
from .api import (
    apps, auth, availability, bookings, calendar, conversations, credentials, devices, jobs, notifications, oauth,
    offerings, ops, presence, privacy, profiles, public_profile, recommendations, records, reviews, search, slots,
    test_users, two_factor, users, video, webhooks,
)
from .appkeys import AVAILABLE_NOW, CHANNELS, RUNTIME, SCHEDULER, VIDEO
from .auth.principal import authenticate_token
from .auth.scopes import socket_events
from .config import Settings
from .errors import InsufficientScope
from .logs import AccessLog
from .metrics import Metrics
from .middleware import make_observe
from .routing import install
from .runtime import running

MAX_BODY = 1024 * 1024
VERSION = "0.1.0"


def listens_on_loopback_only(host: str) -> bool:
    """Is `host` (KLEAR_HOST) a loopback address or name? Then every client is on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(settings: Settings) -> web.Application:
    """The whole server as one aiohttp application; resources open when it starts."""
    access_log = AccessLog(enabled=settings.server.log_level in ("debug", "info"))
    app = web.Application(middlewares=[make_observe(access_log)], client_max_size=MAX_BODY)
    metrics = Metrics()

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with running(settings, metrics) as runtime:
            app[RUNTIME] = runtime
            yield

    app.cleanup_ctx.append(lifespan)
    banner.install(app)
    metrics_here = settings.server.metrics_address is None
    if not metrics_here:
        app.cleanup_ctx.append(metrics_listener.lifespan(metrics, settings.server))
    hub = Hub(app, settings.channels)  # Socket.IO's routes, before the router freezes

    async def channels_lifespan(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]

        async def authenticate(token: str) -> Identity:
            principal = await authenticate_token(rt, token, cached=False)
            events = socket_events(principal.scopes)
            if events is not None and not events:
                raise InsufficientScope("bookings:read")
            return Identity(principal.user_id, principal.session_id, float(principal.claims.expires_at), events)

        async with channels_service.running(
            hub, db=rt.db, bus=rt.bus, redis=rt.redis, redis_prefix=settings.storage.redis_prefix,
            limiter=rt.limiter, authenticate=authenticate, settings=settings.channels, registry=rt.metrics.registry,
        ) as channels:
            app[CHANNELS] = channels
            yield

    async def close_sockets(app: web.Application) -> None:
        await hub.close_sockets()

    async def scheduler_lifespan(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]
        grace = min(5.0, float(settings.server.shutdown_timeout))
        every = timedelta(seconds=settings.discovery.recommendations_interval)
        async with scheduler_component.running(
            rt.db, rt.bus, settings.scheduler, grace=grace,
            more_jobs=lambda deps: {
                **discovery_jobs.handlers(
                    rt.db, deps.clock.now, recommendations_interval=every,
                    first_free=lambda ids, now, within: openings.first_free(deps.db, ids, now, within=within),
                ),
                EXPORT_JOB: records_export.handler(deps.db, rt.blobs, deps.clock.now),
                RETENTION_JOB: records_retention.handler(deps.db, settings.records.retention, deps.clock.now),
            },
        ) as scheduler:
            await discovery_jobs.schedule_recommendations(rt.db, scheduler.deps.clock.now(), every)
            await discovery_jobs.schedule_first_free(rt.db, scheduler.deps.clock.now())
            await records_retention.schedule(rt.db, scheduler.deps.clock.now())
            app[SCHEDULER] = scheduler
            yield

    app[AVAILABLE_NOW] = available_now = AvailableNow(hub)

    async def available_now_lifespan(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]
        async with available_now.running(db=rt.db, bus=rt.bus, presence=app[CHANNELS].presence,
                                         now=app[SCHEDULER].deps.clock.now):
            yield

    app[VIDEO] = video_service = Video(hub)

    async def video_lifespan(app: web.Application) -> AsyncIterator[None]:
        rt, deps = app[RUNTIME], app[SCHEDULER].deps

        async def start_booking(booking_id: uuid.UUID, actor_id: uuid.UUID) -> None:
            actor = await accounts.get_user(rt.db, actor_id)
            await scheduler_bookings.act(deps, booking_id, Action.START, actor=actor)

        async with video_service.running(
            db=rt.db, bus=rt.bus, redis=rt.redis, redis_prefix=settings.storage.redis_prefix, settings=settings.rtc,
            registry=rt.metrics.registry, now=deps.clock.now, start=start_booking,
            loopback_only=listens_on_loopback_only(settings.server.host),
        ):
            yield

    app.cleanup_ctx.append(channels_lifespan)
    app.cleanup_ctx.append(scheduler_lifespan)  # after the runtime's: jobs stop before the pool closes
    app.cleanup_ctx.append(available_now_lifespan)  # on the scheduler's clock and the channels' presence
    app.cleanup_ctx.append(video_lifespan)  # after the scheduler's: sessions close before what they use
    app.on_shutdown.append(close_sockets)
    routes = install(app, [
        auth.routes, users.routes, two_factor.routes, conversations.routes, devices.routes, presence.routes,
        profiles.routes, offerings.routes, availability.routes, slots.routes,
        bookings.routes, notifications.routes, calendar.routes, jobs.routes, test_users.routes, video.routes,
        search.routes, reviews.routes, credentials.routes, public_profile.routes, recommendations.routes,
        apps.routes, webhooks.routes, records.routes, privacy.routes,
    ])
    oauth.install(app)
    extra_paths = {**ops.documented_paths(metrics_here=metrics_here), **oauth.documented_paths()}
    document = openapi.build(routes, title="Klear Karma API", version=VERSION, extra_paths=extra_paths)
    ops.install(app, document, metrics_here=metrics_here)
    webclient.install(app)
    return app
