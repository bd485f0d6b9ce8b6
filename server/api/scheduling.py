"""Shared pieces of the scheduling handlers: reaching the scheduler service, checking ownership, finding a profile."""

from __future__ import annotations

import uuid
from typing import Any

from scheduler.component import Scheduler
from storage import practitioners
from storage.practitioners import Practitioner

from ..appkeys import SCHEDULER
from ..errors import Forbidden, NotFound
from ..routing import Call


def scheduler(call: Call[Any]) -> Scheduler:
    return call.request.app[SCHEDULER]


def own_practitioner_id(call: Call[Any]) -> uuid.UUID:
    """The {practitioner_id} of the path, which must be the caller: only a practitioner edits their own."""
    practitioner_id = call.uuid("practitioner_id")
    if practitioner_id != call.principal.user_id:
        raise Forbidden("Only this practitioner may do this.", code="not_owner")
    if call.principal.role != "practitioner":
        raise Forbidden("Only practitioner accounts have a practitioner profile.", code="not_practitioner")
    return practitioner_id


async def existing_profile(call: Call[Any], practitioner_id: uuid.UUID) -> Practitioner:
    """The practitioner's profile; offerings, hours and time off hang off it, so without one they are not found."""
    found = await practitioners.get(call.runtime.db, practitioner_id)
    if found is None:
        raise NotFound("No practitioner with that id.")
    return found
