"""The scheduler as a part of the application: its services, and the job runner started and stopped with the app.

`lifespan` is an aiohttp cleanup context placed after the Runtime's, so the
job runner starts once the database and bus are up and is stopped (its tasks
awaited, unfinished jobs handed back) before they close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from server.routing import RUNTIME

from .bookings import Deps
from .clock import Clock
from .handlers import handlers
from .mailer import Mailer
from .worker import JobRunner


@dataclass(frozen=True, slots=True)
class Scheduler:
    """What the scheduling handlers use: the booking service's dependencies and the job runner."""

    deps: Deps
    runner: JobRunner


SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler", Scheduler)


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    mailer = Mailer.from_settings(settings)
    deps = Deps(runtime.db, runtime.bus, Clock(timedelta(seconds=settings.clock_shift)), email=mailer is not None)
    runner = JobRunner(
        runtime.db, handlers(deps, mailer), deps.clock,
        poll_interval=settings.job_poll_interval, lease=timedelta(seconds=settings.job_lease),
        concurrency=settings.job_concurrency, retry_base=settings.job_retry_base,
    )
    app[SCHEDULER] = Scheduler(deps, runner)
    if settings.job_concurrency == 0:
        yield  # an API-only process: other processes run the jobs
        return
    await runner.start()
    try:
        yield
    finally:
        await runner.stop(grace=min(5.0, float(settings.shutdown_timeout)))
