"""The retention job: once a day, remove what is past its kind's retention period (KLEAR_RETENTION).

One recurring durable job (`records.retention`), queued once under a fixed dedupe key and re-queued by itself
for the next day, so however many processes start, one sweep runs per day.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from storage import jobs, retention
from storage.database import Database
from storage.jobs import Job, Next, NewJob

RETENTION_JOB = "records.retention"
EVERY = timedelta(days=1)


async def schedule(db: Database, now: datetime) -> None:
    """Queue the daily sweep unless it is queued already (a no-op on every start but the first)."""
    await jobs.enqueue(db, [NewJob(RETENTION_JOB, {}, now, dedupe_key=RETENTION_JOB)])


def handler(db: Database, periods: dict[str, int], now: Callable[[], datetime]) -> Callable[[Job], Awaitable[Next]]:
    async def run(job: Job) -> Next:
        removed = await retention.sweep(db, periods, now(), apply=True)
        outcome = ",".join(f"{kind}={n}" for kind, n in removed.items()) or "nothing_kept_by_age"
        return Next(outcome[:200], now() + EVERY, {})

    return run
