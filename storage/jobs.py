"""The durable job queue: claim under a lease, renew, finish, retry, and look at the dead.

Jobs are queued by the SQL functions (storage/functions/: `booking_create`,
`enqueue_jobs`, `notify`) in the transaction of the change that needs them. A
job may have several steps (a booking's timeline): after each, `advance`
queues it again for the next.

Claiming uses FOR UPDATE SKIP LOCKED, so any number of processes poll the
same table without handing one job to two of them at once. A claim sets a
lease; the runner renews it while the handler runs. A job whose lease has run
out (its process died or hung) is claimable again and counts another attempt.
Finishing and failing are fenced on the claimant, so a process that lost its
lease cannot overwrite the outcome of the process that took over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from .database import Database


@dataclass(frozen=True, slots=True)
class NewJob:
    kind: str
    payload: dict[str, Any]
    run_at: datetime
    dedupe_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "payload": self.payload, "run_at": self.run_at.isoformat(), "dedupe_key": self.dedupe_key}


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    dedupe_key: str | None
    run_at: datetime
    state: str
    attempts: int
    max_attempts: int
    locked_by: str | None
    locked_until: datetime | None
    outcome: str | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


_COLUMNS = ", ".join(f"j.{f}" for f in Job.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Next:
    """What a handler returns when its job has another step: this step's outcome, and when and with which
    payload the job runs again. A plain string outcome finishes the job. (Here, beside Job, so components
    other than the scheduler can write recurring jobs.)"""

    outcome: str
    run_at: datetime
    payload: dict[str, Any]


def _job(row: asyncpg.Record) -> Job:
    return Job(*(row[f] for f in Job.__dataclass_fields__))


def jobs_arg(jobs: list[NewJob]) -> list[dict[str, Any]]:
    """The `p_jobs` (jsonb) argument of the SQL functions."""
    return [j.as_json() for j in jobs]


async def claim(
    db: Database, *, worker: str, now: datetime, lease: timedelta, limit: int, kinds: list[str] | None = None,
    other_than: list[str] | None = None,
) -> list[Job]:
    """Take up to `limit` jobs that are due, or whose lease ran out, and lease them to `worker`: only of
    `kinds` if given, and none of `other_than` (a runner of their own takes those)."""
    rows = await db.fetch(
        "jobs.claim",
        f"""
        WITH stalled AS (
            SELECT id, attempts >= max_attempts AS spent FROM jobs
            WHERE state = 'running' AND locked_until < $2
              AND ($5::text[] IS NULL OR kind = ANY ($5)) AND ($6::text[] IS NULL OR kind <> ALL ($6))
            ORDER BY locked_until LIMIT $4 FOR UPDATE SKIP LOCKED
        ), due AS (
            SELECT id, false AS spent FROM jobs
            WHERE state = 'queued' AND run_at <= $2
              AND ($5::text[] IS NULL OR kind = ANY ($5)) AND ($6::text[] IS NULL OR kind <> ALL ($6))
            ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED
        ), next AS (
            -- Each branch walks its own partial index in order, so a backlog costs nothing extra.
            SELECT * FROM stalled UNION ALL SELECT * FROM due LIMIT $4
        )
        UPDATE jobs j SET
            state = CASE WHEN next.spent THEN 'dead' ELSE 'running' END,
            attempts = CASE WHEN next.spent THEN j.attempts ELSE j.attempts + 1 END,
            locked_by = CASE WHEN next.spent THEN NULL ELSE $1 END,
            locked_until = CASE WHEN next.spent THEN NULL ELSE $2 + $3::interval END,
            finished_at = CASE WHEN next.spent THEN now() END,
            last_error = CASE WHEN next.spent THEN 'LeaseExpired' ELSE j.last_error END
        FROM next WHERE j.id = next.id
        RETURNING {_COLUMNS}
        """,
        worker, now, lease, limit, kinds, other_than,
    )
    # A job whose last attempt stalled is made dead here rather than run once more.
    return [job for job in map(_job, rows) if job.state == "running"]


async def renew(db: Database, job_ids: list[int], *, worker: str, now: datetime, lease: timedelta) -> list[int]:
    """Extend the leases `worker` still holds; returns the ids it still holds."""
    rows = await db.fetch(
        "jobs.renew",
        """UPDATE jobs SET locked_until = $3 + $4::interval
           WHERE id = ANY ($1::bigint[]) AND state = 'running' AND locked_by = $2 RETURNING id""",
        job_ids, worker, now, lease,
    )
    return [r["id"] for r in rows]


async def finish(db: Database, job_id: int, *, worker: str, outcome: str) -> bool:
    """Mark a job done; False if `worker` no longer held it."""
    tag = await db.execute(
        "jobs.finish",
        """UPDATE jobs SET state = 'done', outcome = $3, locked_by = NULL, locked_until = NULL, finished_at = now()
           WHERE id = $1 AND state = 'running' AND locked_by = $2""",
        job_id, worker, outcome,
    )
    return tag.endswith(" 1")


async def advance(
    db: Database, job_id: int, *, worker: str, outcome: str, run_at: datetime, payload: dict[str, Any]
) -> bool:
    """A job that did one step and has more (a booking timeline): queued again for `run_at` with `payload`,
    its attempts counted afresh for the next step. False if `worker` no longer held it."""
    tag = await db.execute(
        "jobs.advance",
        """UPDATE jobs SET state = 'queued', run_at = $3, payload = $4::jsonb, outcome = $5, attempts = 0,
               last_error = NULL, locked_by = NULL, locked_until = NULL
           WHERE id = $1 AND state = 'running' AND locked_by = $2""",
        job_id, worker, run_at, payload, outcome,
    )
    return tag.endswith(" 1")


async def fail(db: Database, job_id: int, *, worker: str, error: str, retry_at: datetime) -> str | None:
    """Record a failed attempt: queue it again at `retry_at`, or make it dead after its last attempt.

    Returns the new state, or None if `worker` no longer held the job.
    """
    row = await db.fetchrow(
        "jobs.fail",
        """
        UPDATE jobs SET
            state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
            run_at = CASE WHEN attempts >= max_attempts THEN run_at ELSE $4 END,
            finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
            last_error = $3, locked_by = NULL, locked_until = NULL
        WHERE id = $1 AND state = 'running' AND locked_by = $2
        RETURNING state
        """,
        job_id, worker, error, retry_at,
    )
    return None if row is None else str(row["state"])


async def release(db: Database, job_ids: list[int], *, worker: str) -> None:
    """Hand back unfinished jobs on shutdown: due again now, and the interrupted attempt not counted."""
    await db.execute(
        "jobs.release",
        """UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), locked_by = NULL, locked_until = NULL
           WHERE id = ANY ($1::bigint[]) AND state = 'running' AND locked_by = $2""",
        job_ids, worker,
    )


async def dead(db: Database, *, limit: int, before_id: int | None) -> list[Job]:
    """Jobs that used up their attempts, newest first."""
    rows = await db.fetch(
        "jobs.dead",
        f"""SELECT {_COLUMNS} FROM jobs j WHERE j.state = 'dead' AND ($2::bigint IS NULL OR j.id < $2)
            ORDER BY j.id DESC LIMIT $1""",
        limit, before_id,
    )
    return [_job(r) for r in rows]


async def retry_dead(db: Database, job_id: int, now: datetime) -> Job | None:
    """Give a dead job a fresh set of attempts, due now; None if it is not dead."""
    row = await db.fetchrow(
        "jobs.retry_dead",
        f"""UPDATE jobs j SET state = 'queued', attempts = 0, run_at = $2, finished_at = NULL
            WHERE j.id = $1 AND j.state = 'dead' RETURNING {_COLUMNS}""",
        job_id, now,
    )
    return None if row is None else _job(row)


# Transactions that queue a job to run at once (a webhook delivery) NOTIFY this channel as they commit.
DUE_CHANNEL = "klear_jobs_due"


@asynccontextmanager
async def hearing_due(db: Database, on_due: Callable[[], None]) -> AsyncIterator[None]:
    """Call `on_due` each time such a transaction commits, for as long as the block runs, on one pooled
    connection held meanwhile (and left without a listener, since the pool does not reset connections)."""
    def heard(*_: object) -> None:
        on_due()

    async with db.connection("jobs.hearing_due") as conn:
        await conn.add_listener(DUE_CHANNEL, heard)
        try:
            yield
        finally:
            await conn.remove_listener(DUE_CHANNEL, heard)


async def keep_recurring(db: Database, job: NewJob) -> None:
    """Make sure a job that queues itself again after every run (`Next`) exists: queue it under its dedupe key if
    it does not, or again if it died (a process killed mid-run too often), so every start-up revives it."""
    await db.execute(
        "jobs.keep_recurring",
        """INSERT INTO jobs (kind, payload, dedupe_key, run_at) VALUES ($1, $2::jsonb, $3, $4)
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO UPDATE SET state = 'queued', run_at = EXCLUDED.run_at, attempts = 0,
               finished_at = NULL, locked_by = NULL, locked_until = NULL
           WHERE jobs.state IN ('dead', 'done')""",
        job.kind, job.payload, job.dedupe_key, job.run_at,
    )


async def enqueue(db: Database, new: list[NewJob]) -> None:
    """Queue jobs that belong to no other change (an email about an attempt); a repeated dedupe_key is skipped."""
    await db.execute("jobs.enqueue", "SELECT enqueue_jobs($1::jsonb)", jobs_arg(new))
