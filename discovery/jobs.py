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
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from storage import credentials, discovery, jobs, recommendations
from storage.database import Database
from storage.jobs import Job, NewJob

RECOMMENDATIONS = "recommendations.compute"
REBUILD = "search.rebuild"


def _run_of(interval: timedelta, n: int) -> NewJob:
    start = datetime.fromtimestamp(n * interval.total_seconds(), UTC)
    return NewJob(RECOMMENDATIONS, {"run": n}, start, dedupe_key=f"{RECOMMENDATIONS}:{int(interval.total_seconds())}:{n}")


async def schedule_recommendations(db: Database, now: datetime, interval: timedelta) -> None:
    """Make sure the current interval has its run (a no-op when it is already queued or done)."""
    current = int(now.timestamp() // interval.total_seconds())
    await jobs.enqueue(db, [_run_of(interval, current)])


def handlers(
    db: Database, now: Callable[[], datetime], *, recommendations_interval: timedelta,
) -> dict[str, Callable[[Job], Awaitable[str]]]:
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

    return {credentials.EXPIRE: expire, RECOMMENDATIONS: compute, REBUILD: rebuild}
