"""The audit trail of reads of other people's data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from .database import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    action: str
    subject_id: uuid.UUID | None
    resource: str | None
    request_id: str | None


async def record(
    db: Database,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject_id: uuid.UUID | None,
    resource: str | None,
    request_id: str | None,
) -> None:
    await db.execute(
        "audit.record",
        "INSERT INTO audit_log (actor_id, action, subject_id, resource, request_id) VALUES ($1, $2, $3, $4, $5)",
        actor_id, action, subject_id, resource, request_id,
    )


async def entries_for_subject(db: Database, subject_id: uuid.UUID, limit: int = 100) -> list[AuditEntry]:
    """Who read this person's data, newest first."""
    rows = await db.fetch(
        "audit.entries_for_subject",
        "SELECT * FROM audit_log WHERE subject_id = $1 ORDER BY id DESC LIMIT $2",
        subject_id, limit,
    )
    return [AuditEntry(**dict(r)) for r in rows]
