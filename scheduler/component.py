"""The scheduler as a part of the application: its services, and the job runner started and stopped with it.

`running(...)` is entered by the server after the database and bus are up, so
the job runner starts once they are, and is stopped (its tasks awaited,
unfinished jobs handed back) before they close. Everything it needs is passed
in; it knows nothing of the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from storage.bus import Bus
from storage.clock import Clock
from storage.database import Database

from .bookings import Deps
from .handlers import handlers
from .mailer import Mailer
from .settings import SchedulerSettings
from .worker import Handler, JobRunner


@dataclass(frozen=True, slots=True)
class Scheduler:
    """What the scheduling handlers use: the booking service's dependencies and the job runner."""

    deps: Deps
    runner: JobRunner


@asynccontextmanager
async def running(
    db: Database, bus: Bus, settings: SchedulerSettings, *, grace: float,
    more_handlers: Callable[[Deps], Mapping[str, Handler]] | None = None,
) -> AsyncIterator[Scheduler]:
    """The scheduler of this process; its job runner runs until the block exits (none when concurrency is 0).
    `more_handlers` adds the durable jobs of other components (the records export), given the scheduler's
    dependencies (its clock among them)."""
    mailer = Mailer.from_settings(settings)
    deps = Deps(db, bus, Clock(timedelta(seconds=settings.clock_shift)), email=mailer is not None)
    kinds = handlers(deps, mailer, reminder_grace=timedelta(seconds=settings.reminder_grace))
    if more_handlers is not None:
        kinds.update(more_handlers(deps))
    runner = JobRunner(
        db, kinds, deps.clock,
        poll_interval=settings.job_poll_interval, lease=timedelta(seconds=settings.job_lease),
        concurrency=settings.job_concurrency, retry_base=settings.job_retry_base,
    )
    if settings.job_concurrency == 0:
        yield Scheduler(deps, runner)  # an API-only process: other processes run the jobs
        return
    await runner.start()
    try:
        yield Scheduler(deps, runner)
    finally:
        await runner.stop(grace=grace)
