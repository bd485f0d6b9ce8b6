"""Discovery's durable jobs, run by the scheduler's job runner (the server hands them over when it wires both).

`credential.expire` is idempotent: it re-reads the credential and takes the
badge only from one still verified whose expiry has passed; a run before the
expiry (a clock moved back) or after someone else did it records a skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from storage import credentials
from storage.database import Database
from storage.jobs import Job


def handlers(db: Database, now: Callable[[], datetime]) -> dict[str, Callable[[Job], Awaitable[str]]]:
    async def expire(job: Job) -> str:
        done = await credentials.expire(db, uuid.UUID(job.payload["credential_id"]), now())
        return "expired" if done else "skipped"

    return {credentials.EXPIRE: expire}
