"""Discovery's durable jobs, run by the scheduler's job runner (the server hands them over when it wires both).

`credential.expire` is idempotent: it re-reads the credential and takes the
badge only from one still verified whose expiry has passed; a run before the
expiry (a clock moved back) or after someone else did it records a skip.

`search.rebuild` refreshes every practitioner's search row; migration 0050
queues it for the practitioners who existed before search did. Running it
again changes nothing.

`recommendations.compute` rebuilds the similarity table and queues its next
run one interval later. Runs are keyed by their interval's number, so the
start-up call that makes sure a chain exists (`schedule_recommendations`,
from every process) and the chain itself never queue two runs for one
interval.

`search.first_free` keeps each practitioner's recorded first free slot
(practitioner_search.next_free_at, migration 0110), which search ranks by. It
is one job row that queues itself again every `FIRST_FREE_EVERY` (at once
while more are due), so one process at a time computes whatever is due:
practitioners marked by a change in its transaction, and those whose slot
time has moved past. The slot finder is the scheduler's, handed over by the
server. A failed run is logged and retried at the next one, so the chain
never stops; every start-up queues it again if it died all the same.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from storage import credentials, discovery, jobs, recommendations
from storage.database import Database
from storage.discovery import FirstFree
from storage.jobs import Job, NewJob, Next

from .ranking import FIRST_FREE_WITHIN

log = logging.getLogger(__name__)

RECOMMENDATIONS = "recommendations.compute"
REBUILD = "search.rebuild"
FIRST_FREE = "search.first_free"
FIRST_FREE_EVERY = timedelta(seconds=2)
FIRST_FREE_BATCH = 500
FIRST_FREE_BATCHES = 4  # per run; a backlog goes on in the next run, queued at once

# (practitioner ids, now, within) -> each one's first free slot: scheduler/openings.py's `first_free`.
FindFirstFree = Callable[[list[uuid.UUID], datetime, timedelta], Awaitable[dict[uuid.UUID, FirstFree]]]


def _run_of(interval: timedelta, n: int) -> NewJob:
    start = datetime.fromtimestamp(n * interval.total_seconds(), UTC)
    return NewJob(RECOMMENDATIONS, {"run": n}, start, dedupe_key=f"{RECOMMENDATIONS}:{int(interval.total_seconds())}:{n}")


async def schedule_recommendations(db: Database, now: datetime, interval: timedelta) -> None:
    """Make sure the current interval has its run (a no-op when it is already queued or done)."""
    current = int(now.timestamp() // interval.total_seconds())
    await jobs.enqueue(db, [_run_of(interval, current)])


async def schedule_first_free(db: Database, now: datetime) -> None:
    """Make sure the first-free-slot job exists (queued again if it died)."""
    await jobs.keep_recurring(db, NewJob(FIRST_FREE, {}, now, dedupe_key=FIRST_FREE))


async def refresh_first_free(db: Database, find: FindFirstFree, now: datetime) -> tuple[int, bool]:
    """Compute the first free slots that are due; returns how many were stored and whether more are due."""
    stored = 0
    for _ in range(FIRST_FREE_BATCHES):
        due = await discovery.first_free_due(db, now, limit=FIRST_FREE_BATCH)
        if not due:
            return stored, False
        found = await find([d.practitioner_id for d in due], now, FIRST_FREE_WITHIN)
        kept, _ = await discovery.record_first_free(db, [(d, found.get(d.practitioner_id, FirstFree(None, None)))
                                                         for d in due], now)
        stored += kept
        if len(due) < FIRST_FREE_BATCH:
            return stored, False
    return stored, True


def handlers(
    db: Database, now: Callable[[], datetime], *, recommendations_interval: timedelta, first_free: FindFirstFree,
) -> dict[str, Callable[[Job], Awaitable[str | Next]]]:
    async def expire(job: Job) -> str:
        done = await credentials.expire(db, uuid.UUID(job.payload["credential_id"]), now())
        return "expired" if done else "skipped"

    async def compute(job: Job) -> str:
        pairs = await recommendations.compute_similarity(db, now())
        current = int(now().timestamp() // recommendations_interval.total_seconds())
        await jobs.enqueue(db, [_run_of(recommendations_interval, max(current, int(job.payload["run"])) + 1)])
        return f"computed_{pairs}"

    async def rebuild(job: Job) -> str:
        return f"refreshed_{await discovery.rebuild_all(db)}"

    async def first_free_run(job: Job) -> Next:
        at = now()
        try:
            stored, more = await refresh_first_free(db, first_free, at)
        except Exception as exc:
            log.exception("first free slots not refreshed; trying again next run",
                          extra={"event": "first_free_failed", "error_type": type(exc).__name__})
            return Next(f"failed_{type(exc).__name__}", at + FIRST_FREE_EVERY, {})
        return Next(f"stored_{stored}", at if more else at + FIRST_FREE_EVERY, {})

    return {credentials.EXPIRE: expire, RECOMMENDATIONS: compute, REBUILD: rebuild, FIRST_FREE: first_free_run}
