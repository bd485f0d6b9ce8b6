"""Shared pieces of the scheduling handlers: reaching the scheduler service and turning its refusals into API errors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from scheduler.component import SCHEDULER, Scheduler
from scheduler.errors import Refused

from ..errors import ApiError, Forbidden
from ..routing import Call


def scheduler(call: Call[Any]) -> Scheduler:
    return call.request.app[SCHEDULER]


def api_error(refused: Refused) -> ApiError:
    return ApiError(refused.message, code=refused.code, status=refused.status, details=refused.details)


@asynccontextmanager
async def refusals() -> AsyncIterator[None]:
    """Let a block raise the scheduler's refusals as the documented API errors."""
    try:
        yield
    except Refused as refused:
        raise api_error(refused) from None


def own_practitioner_id(call: Call[Any]) -> uuid.UUID:
    """The {practitioner_id} of the path, which must be the caller: only a practitioner edits their own."""
    practitioner_id = call.uuid("practitioner_id")
    if practitioner_id != call.principal.user_id:
        raise Forbidden("Only this practitioner may do this.", code="not_owner")
    if call.principal.role != "practitioner":
        raise Forbidden("Only practitioner accounts have a practitioner profile.", code="not_practitioner")
    return practitioner_id
