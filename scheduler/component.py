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
from storage.webhooks import DELIVER

from .bookings import Deps
from . import webhooks
from .handlers import handlers
from .mailer import Mailer
from .settings import SchedulerSettings
from .webhook_http import WebhookSender
from .worker import Handler, JobRunner


@dataclass(frozen=True, slots=True)
class Scheduler:
    """What the scheduling handlers use: the booking service's dependencies and the job runner."""

    deps: Deps
    runner: JobRunner


@asynccontextmanager
async def running(
    db: Database, bus: Bus, settings: SchedulerSettings, *, grace: float,
    more_jobs: Callable[[Deps], Mapping[str, Handler]] | None = None,
) -> AsyncIterator[Scheduler]:
    """The scheduler of this process; its job runner runs until the block exits (none when concurrency is 0).

    `more_jobs` gives other components' job handlers (discovery's, the records export and retention) for the
    same runner, from the scheduler's dependencies: its database and its clock."""
    mailer = Mailer.from_settings(settings)
    deps = Deps(db, bus, Clock(timedelta(seconds=settings.clock_shift)), email=mailer is not None)
    sender = WebhookSender(allow_loopback=settings.webhook_allow_loopback, timeout=settings.webhook_timeout)
    lease = timedelta(seconds=settings.job_lease)
    kinds = dict(handlers(deps, mailer, reminder_grace=timedelta(seconds=settings.reminder_grace)))
    kinds.update(more_jobs(deps) if more_jobs is not None else {})
    runner = JobRunner(
        db, kinds, deps.clock,
        poll_interval=settings.job_poll_interval, lease=lease, concurrency=settings.job_concurrency,
        retry_base=settings.job_retry_base, other_than=[DELIVER],
    )
    # Webhook deliveries have slots of their own: slow or failing receivers never hold up reminders.
    deliver = webhooks.handler(deps, sender, retry_base=settings.webhook_retry_base, attempts=settings.webhook_attempts)
    deliveries = JobRunner(
        db, {DELIVER: deliver}, deps.clock, poll_interval=settings.job_poll_interval, lease=lease,
        concurrency=settings.webhook_concurrency, retry_base=settings.job_retry_base, kinds=[DELIVER], hear_due=True,
    )
    started = [] if settings.job_concurrency == 0 else [runner]
    if started and settings.webhook_concurrency > 0:
        started.append(deliveries)
    try:
        for r in started:  # none in an API-only process: other processes run the jobs
            await r.start()
        yield Scheduler(deps, runner)
    finally:
        for r in reversed(started):
            await r.stop(grace=grace)
        await sender.close()
