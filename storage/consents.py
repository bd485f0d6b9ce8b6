"""Consent grants: which practitioner may read which scopes of a client's records, until when.

Every read checks `active` with the caller's clock, so an expiry or a revocation holds from the next read on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .database import Database

SCOPES = ("intake", "history", "notes", "attachments")


@dataclass(frozen=True, slots=True)
class Grant:
    id: uuid.UUID
    client_id: uuid.UUID
    practitioner_id: uuid.UUID
    scopes: list[str]
    status: str  # proposed, active, declined, revoked
    booking_id: uuid.UUID | None
    expires_at: datetime
    created_at: datetime
    decided_at: datetime | None
    revoked_at: datetime | None


_COLUMNS = "id, client_id, practitioner_id, scopes, status, booking_id, expires_at, created_at, decided_at, revoked_at"


def _grant(row: asyncpg.Record) -> Grant:
    return Grant(**dict(row))


async def create(
    db: Database, *, client_id: uuid.UUID, practitioner_id: uuid.UUID, scopes: list[str], expires_at: datetime,
    status: str, booking_id: uuid.UUID | None = None,
) -> Grant:
    """A grant the client gives ('active') or a practitioner proposes on a booking ('proposed')."""
    row = await db.fetchrow(
        "consents.create",
        f"""INSERT INTO consent_grants (id, client_id, practitioner_id, scopes, status, booking_id, expires_at, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $5 = 'active' THEN now() END) RETURNING {_COLUMNS}""",
        uuid.uuid4(), client_id, practitioner_id, sorted(set(scopes)), status, booking_id, expires_at,
    )
    assert row is not None
    return _grant(row)


async def get(db: Database, grant_id: uuid.UUID) -> Grant | None:
    row = await db.fetchrow("consents.get", f"SELECT {_COLUMNS} FROM consent_grants WHERE id = $1", grant_id)
    return None if row is None else _grant(row)


async def decide(db: Database, grant_id: uuid.UUID, client_id: uuid.UUID, accept: bool, now: datetime) -> Grant | None:
    """The client accepts or declines a proposed grant; None if it is not theirs, no longer proposed, or (to
    accept) already past its expiry at `now`."""
    row = await db.fetchrow(
        "consents.decide",
        f"""UPDATE consent_grants SET status = $3, decided_at = now()
            WHERE id = $1 AND client_id = $2 AND status = 'proposed' AND ($3 = 'declined' OR expires_at > $4)
            RETURNING {_COLUMNS}""",
        grant_id, client_id, "active" if accept else "declined", now,
    )
    return None if row is None else _grant(row)


async def revoke(db: Database, grant_id: uuid.UUID, client_id: uuid.UUID) -> Grant | None:
    """The client ends a grant at once; None if it is not theirs or already ended."""
    row = await db.fetchrow(
        "consents.revoke",
        f"""UPDATE consent_grants SET status = 'revoked', revoked_at = now()
            WHERE id = $1 AND client_id = $2 AND status IN ('active', 'proposed') RETURNING {_COLUMNS}""",
        grant_id, client_id,
    )
    return None if row is None else _grant(row)


async def active(
    db: Database, client_id: uuid.UUID, practitioner_id: uuid.UUID, scope: str, now: datetime
) -> Grant | None:
    """The grant that lets the practitioner read `scope` of the client's records at `now`, if any."""
    row = await db.fetchrow(
        "consents.active",
        f"""SELECT {_COLUMNS} FROM consent_grants
            WHERE client_id = $1 AND practitioner_id = $2 AND status = 'active' AND $3 = ANY(scopes) AND expires_at > $4
            ORDER BY expires_at DESC LIMIT 1""",
        client_id, practitioner_id, scope, now,
    )
    return None if row is None else _grant(row)


async def involving(db: Database, user_id: uuid.UUID) -> list[Grant]:
    """The grants a user gave or received, newest first."""
    rows = await db.fetch(
        "consents.involving",
        f"""SELECT {_COLUMNS} FROM consent_grants WHERE client_id = $1 OR practitioner_id = $1
            ORDER BY created_at DESC, id LIMIT 500""",
        user_id,
    )
    return [_grant(r) for r in rows]


async def active_scopes(
    db: Database, client_id: uuid.UUID, practitioner_id: uuid.UUID, now: datetime
) -> dict[str, uuid.UUID]:
    """Each scope the practitioner may read of the client's records at `now`, with the grant that allows it."""
    rows = await db.fetch(
        "consents.active_scopes",
        """SELECT DISTINCT ON (s.scope) s.scope, g.id FROM consent_grants g, unnest(g.scopes) AS s (scope)
           WHERE g.client_id = $1 AND g.practitioner_id = $2 AND g.status = 'active' AND g.expires_at > $3
           ORDER BY s.scope, g.expires_at DESC""",
        client_id, practitioner_id, now,
    )
    return {r["scope"]: r["id"] for r in rows}
