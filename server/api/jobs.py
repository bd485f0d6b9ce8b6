"""Admin: the durable jobs that used up their attempts, and giving one another go."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from storage import jobs
from storage.jobs import Job

from ..errors import NotFound
from ..routing import Call, Output, QueryInput, RouteTable
from .fields import SEQ_MAX
from .scheduling import scheduler

routes = RouteTable("jobs")


class JobOut(Output):
    id: int
    kind: str
    state: str
    attempts: int
    max_attempts: int
    run_at: datetime
    last_error: str | None = Field(description="Error type of the last attempt.")
    outcome: str | None
    created_at: datetime
    finished_at: datetime | None


class DeadJobs(Output):
    items: list[JobOut]
    next_before: int | None


class DeadQuery(QueryInput):
    limit: int = Field(50, ge=1, le=500)
    before: int | None = Field(None, ge=1, le=SEQ_MAX)


def _out(job: Job) -> JobOut:
    return JobOut.model_validate(job)


@routes.get("/admin/jobs/dead", query=DeadQuery, response=DeadJobs, roles=("admin",), errors=(422,))
async def dead_jobs(call: Call[None]) -> DeadJobs:
    """Jobs that failed on every attempt, newest first. Payloads are not shown (they name bookings)."""
    q: DeadQuery = call.query
    found = await jobs.dead(call.runtime.db, limit=q.limit, before_id=q.before)
    return DeadJobs(items=[_out(j) for j in found], next_before=found[-1].id if len(found) == q.limit else None)


@routes.post("/admin/jobs/{job}/retry", response=JobOut, roles=("admin",), errors=(404,))
async def retry_job(call: Call[None]) -> JobOut:
    """Queue a dead job again with a fresh set of attempts."""
    raw = call.request.match_info["job"]
    valid = raw.isdigit() and len(raw) <= 18
    job = await jobs.retry_dead(call.runtime.db, int(raw), scheduler(call).deps.clock.now()) if valid else None
    if job is None:
        raise NotFound("No dead job with that id.")
    return _out(job)
