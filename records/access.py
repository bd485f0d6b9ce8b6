"""The one gate to a client's records: own data, the practitioner's own notes, or an active consent grant.

Every read or write of someone else's record, and every refused attempt, is audited with the reason access
rested on (`grant:<id>` or `booking:<id>`) and the request id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from storage import audit, consents
from storage.database import Database
from storage.errors import Refusal


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking, as the records package needs it: their id, role, the request id and the clock's now."""

    user_id: uuid.UUID
    role: str
    request_id: str | None
    now: datetime


class ConsentRequired(Refusal):
    status, code = 403, "consent_required"
    default_message = "The client has not granted you access to this part of their record (or the grant ended)."


class RecordRefused(Refusal):
    status, code = 403, "forbidden"


async def audited(
    db: Database, actor: Actor, action: str, client_id: uuid.UUID, resource: str, reason: str | None,
    *, allowed: bool = True,
) -> None:
    """Append the audit entry of one access to `client_id`'s data (none for a client's own)."""
    if actor.user_id != client_id:
        await audit.record(db, actor_id=actor.user_id, action=action, subject_id=client_id, resource=resource,
                           request_id=actor.request_id, reason=reason, allowed=allowed)


_T = TypeVar("_T")


async def read_audited(
    db: Database, actor: Actor, action: str, client_id: uuid.UUID, resource: str, reason: str | None,
    read: Awaitable[_T],
) -> _T:
    """`read` (already authorised) while its audit entry is appended, so the request pays for the longer of the
    two rather than their sum. Nothing is returned before the entry is committed, and a failed append fails
    the request: no data leaves without its entry."""
    entry = asyncio.ensure_future(audited(db, actor, action, client_id, resource, reason))
    try:
        return await read
    finally:
        await entry


async def grant_for(
    db: Database, actor: Actor, client_id: uuid.UUID, scope: str, *, action: str, resource: str
) -> str:
    """The reason `actor` may read `scope` of the client's records (`grant:<id>`), or ConsentRequired after the
    refusal was audited."""
    grant = await consents.active(db, client_id, actor.user_id, scope, actor.now)
    if grant is None:
        await audited(db, actor, action, client_id, resource, f"scope:{scope}", allowed=False)
        raise ConsentRequired(details=[{"scope": scope}])
    return f"grant:{grant.id}"


async def refuse(db: Database, actor: Actor, action: str, client_id: uuid.UUID, resource: str, message: str) -> Refusal:
    """Audit a refused attempt on someone's record and return the refusal to raise."""
    await audited(db, actor, action, client_id, resource, None, allowed=False)
    return RecordRefused(message)
