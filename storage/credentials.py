"""Practitioners' credentials: upload, the admin queue, verify or reject with a reason, and expiry.

Every change that can move the verified badge refreshes the practitioner's
search row in the same transaction. Verifying a credential that expires
queues its expiry job (`credential.expire`, due at the expiry) in that
transaction too, so the badge cannot outlive it by more than a poll.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .database import Database
from .jobs import NewJob, jobs_arg
from .practitioners import refresh_search

EXPIRE = "credential.expire"


@dataclass(frozen=True, slots=True)
class Credential:
    id: uuid.UUID
    practitioner_id: uuid.UUID
    title: str
    issuer: str
    number: str
    expires_at: datetime | None
    document_type: str
    status: str
    reason: str | None
    decided_at: datetime | None
    created_at: datetime


_COLUMNS = ", ".join(f"c.{f}" for f in Credential.__dataclass_fields__)


def _credential(row: asyncpg.Record) -> Credential:
    return Credential(*(row[f] for f in Credential.__dataclass_fields__))


async def add(
    db: Database, practitioner_id: uuid.UUID, *, title: str, issuer: str, number: str, expires_at: datetime | None,
    document: bytes, document_type: str,
) -> Credential:
    row = await db.fetchrow(
        "credentials.add",
        f"""INSERT INTO credentials AS c (id, practitioner_id, title, issuer, number, expires_at, document, document_type)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",
        uuid.uuid4(), practitioner_id, title, issuer, number, expires_at, document, document_type,
    )
    assert row is not None
    return _credential(row)


async def of_practitioner(db: Database, practitioner_id: uuid.UUID, *, verified_only: bool) -> list[Credential]:
    rows = await db.fetch(
        "credentials.of_practitioner",
        f"""SELECT {_COLUMNS} FROM credentials c WHERE c.practitioner_id = $1 AND (NOT $2 OR c.status = 'verified')
            ORDER BY c.created_at, c.id""",
        practitioner_id, verified_only,
    )
    return [_credential(r) for r in rows]


async def pending(db: Database, *, limit: int) -> list[Credential]:
    rows = await db.fetch(
        "credentials.pending",
        f"SELECT {_COLUMNS} FROM credentials c WHERE c.status = 'pending' ORDER BY c.created_at, c.id LIMIT $1", limit,
    )
    return [_credential(r) for r in rows]


async def document(db: Database, credential_id: uuid.UUID) -> tuple[uuid.UUID, bytes, str] | None:
    """(practitioner, document, media type) of a credential."""
    row = await db.fetchrow(
        "credentials.document",
        "SELECT practitioner_id, document, document_type FROM credentials WHERE id = $1", credential_id,
    )
    return None if row is None else (row["practitioner_id"], row["document"], row["document_type"])


async def decide(
    db: Database, credential_id: uuid.UUID, admin_id: uuid.UUID, *, verified: bool, reason: str | None, now: datetime,
) -> Credential | None:
    """Verify or reject a pending credential. None if there is no pending credential with that id. A verified one
    that has already expired is stored as expired."""
    async with db.transaction("credentials.decide") as conn:
        row = await conn.fetchrow(
            f"""
            UPDATE credentials AS c SET
                status = CASE WHEN NOT $3 THEN 'rejected' WHEN c.expires_at <= $5 THEN 'expired' ELSE 'verified' END,
                decided_by = $2, decided_at = $5, reason = $4
            WHERE c.id = $1 AND c.status = 'pending' RETURNING {_COLUMNS}
            """,
            credential_id, admin_id, verified, reason, now,
        )
        if row is None:
            return None
        found = _credential(row)
        if found.status == "verified" and found.expires_at is not None:
            job = NewJob(EXPIRE, {"credential_id": str(found.id)}, found.expires_at, dedupe_key=f"{EXPIRE}:{found.id}")
            await conn.execute("SELECT enqueue_jobs($1::jsonb)", jobs_arg([job]))
        await refresh_search(conn, found.practitioner_id)
    return found


async def expire(db: Database, credential_id: uuid.UUID, now: datetime) -> bool:
    """Take the badge from a verified credential whose expiry has passed; False if there is nothing to do."""
    async with db.transaction("credentials.expire") as conn:
        row = await conn.fetchrow(
            """UPDATE credentials SET status = 'expired' WHERE id = $1 AND status = 'verified' AND expires_at <= $2
               RETURNING practitioner_id""",
            credential_id, now,
        )
        if row is not None:
            await refresh_search(conn, row["practitioner_id"])
    return row is not None
