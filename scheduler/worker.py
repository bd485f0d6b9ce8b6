"""The job runner: one per process, claiming due jobs from the shared table and running their handlers.

Every process runs one, so the work spreads across processes and survives
any of them dying. A claimed job is leased; a heartbeat task renews the
leases of the jobs still running, so a long handler keeps its job while a
killed process's jobs become claimable again once their lease runs out.
A handler that raises is retried with exponential backoff (with jitter) until
the job's attempts are used up, when it is left `dead` for an operator. A
handler may also answer `Next`: the step is done and the job is queued again
for its next one (a booking's timeline), with its attempts counted afresh.

Whoever starts the runner stops it: `stop()` stops claiming, gives running
handlers a grace period, cancels the rest, hands their jobs back to the queue
and returns once every task it started has exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from storage import jobs
from storage.clock import Clock
from storage.database import Database
from storage.errors import StorageError
from storage.jobs import Job, Next

log = logging.getLogger(__name__)


Handler = Callable[[Job], Awaitable[str | Next]]


class UnknownJobKind(Exception):
    """No handler is registered for a job's kind."""


def worker_name() -> str:
    """host:pid:random, so an operator (or a test) can tell which process holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobRunner:
    """Claims and runs jobs until stopped."""

    def __init__(
        self, db: Database, handlers: Mapping[str, Handler], clock: Clock, *, poll_interval: float,
        lease: timedelta, concurrency: int, retry_base: float, retry_max: float = 3600.0, name: str | None = None,
        kinds: list[str] | None = None, other_than: list[str] | None = None, hear_due: bool = False,
    ) -> None:
        self._db = db
        self._handlers = handlers
        self._clock = clock
        self._poll = poll_interval
        self._lease = lease
        self._concurrency = concurrency
        self._retry_base = retry_base
        self._retry_max = retry_max
        self.name = name or worker_name()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._grace = 5.0
        self._kinds = kinds  # only these kinds (None: all) ...
        self._other_than = other_than  # ... but none of these
        self._hear_due = hear_due

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="jobs")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, let running handlers finish for up to `grace` seconds, hand back the rest."""
        self._grace = grace
        self._stopping.set()
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None

    def backoff(self, attempt: int) -> float:
        """Seconds before retrying after failed attempt number `attempt` (1-based)."""
        delay = min(self._retry_max, self._retry_base * 2.0 ** (attempt - 1))
        return float(delay * random.uniform(0.8, 1.2))

    async def _run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name="jobs-heartbeat")
        hearing = contextlib.AsyncExitStack()
        try:
            # Jobs meant to run at once (webhook deliveries) wake the loop as their transaction commits; the
            # poll interval still bounds the wait if this connection is lost.
            if self._hear_due:
                await hearing.enter_async_context(jobs.hearing_due(self._db, self._wake.set))
        except StorageError as exc:
            log.warning("cannot hear due jobs; polling only", extra={"event": "jobs_listen_failed",
                                                                     "error_type": type(exc).__name__})
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before claiming: a wake-up during the claim is not lost
                claimed = await self._claim()
                if claimed and len(self._running) < self._concurrency:
                    continue  # the table may hold more that are due
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self._drain()
            try:
                await hearing.aclose()
            except StorageError:
                pass  # the connection is gone already; so is its listener

    async def _claim(self) -> int:
        free = self._concurrency - len(self._running)
        if free <= 0:
            return 0
        try:
            claimed = await jobs.claim(self._db, worker=self.name, now=self._clock.now(), lease=self._lease, limit=free,
                                       kinds=self._kinds, other_than=self._other_than)
        except StorageError as exc:
            log.warning("claiming jobs failed", extra={"event": "jobs_claim_failed", "error_type": type(exc).__name__})
            return 0
        for job in claimed:
            task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))
        return len(claimed)

    def _finished(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()  # a slot is free: claim again without waiting for the poll

    async def _execute(self, job: Job) -> None:
        extra = {"job_id": job.id, "job_kind": job.kind, "attempt": job.attempts}
        try:
            handler = self._handlers.get(job.kind)
            if handler is None:
                raise UnknownJobKind(job.kind)
            result = await handler(job)
            if isinstance(result, Next):
                kept = await jobs.advance(self._db, job.id, worker=self.name, outcome=result.outcome,
                                          run_at=result.run_at, payload=result.payload)
                done, outcome = "job_step_done", result.outcome
            else:
                kept = await jobs.finish(self._db, job.id, worker=self.name, outcome=result)
                done, outcome = "job_done", result
            if kept:
                log.info(done.replace("_", " "), extra={**extra, "event": done, "reason": outcome})
            else:
                log.warning("job finished after its lease was lost", extra={**extra, "event": "job_lease_lost"})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            retry_in = self.backoff(job.attempts)
            try:
                state = await jobs.fail(
                    self._db, job.id, worker=self.name, error=type(exc).__name__,
                    retry_at=self._clock.now() + timedelta(seconds=retry_in),
                )
            except StorageError:
                state = None  # the lease runs out and another attempt follows
            log.warning(
                "job failed", exc_info=not isinstance(exc, StorageError),
                extra={**extra, "event": "job_dead" if state == "dead" else "job_failed",
                       "error_type": type(exc).__name__, "retry_in": round(retry_in, 2)},
            )

    async def _heartbeat(self) -> None:
        period = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            if not self._running:
                continue
            try:
                await jobs.renew(self._db, list(self._running), worker=self.name, now=self._clock.now(), lease=self._lease)
            except StorageError as exc:
                log.warning("renewing job leases failed", extra={"event": "jobs_renew_failed", "error_type": type(exc).__name__})

    async def _drain(self) -> None:
        if not self._running:
            return
        tasks = list(self._running.values())
        ids = list(self._running)
        _, pending = await asyncio.wait(tasks, timeout=self._grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unfinished = [job_id for job_id, task in zip(ids, tasks, strict=True) if task in pending]
        if unfinished:
            try:
                await jobs.release(self._db, unfinished, worker=self.name)
                log.info("jobs handed back", extra={"event": "jobs_released", "count": len(unfinished)})
            except StorageError as exc:
                # Their leases run out and another process takes them over.
                log.warning("handing jobs back failed", extra={"event": "jobs_release_failed", "error_type": type(exc).__name__})
