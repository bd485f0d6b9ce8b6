"""How answers write times: instants in UTC with a `Z`, local times with their numeric offset.

An instant echoed with the offset a caller sent would differ from every later
read of it and pass one person's offset on to the other, so every instant an
answer holds is written in UTC, whatever offset the value carries. A local time
(a slot's `local_start`) is there to show the viewer's wall clock, so it keeps
its offset and writes it as digits, `+00:00` included, never `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _with_offset(value: datetime) -> str:
    return value.isoformat()


Instant = Annotated[datetime, PlainSerializer(_utc, return_type=datetime, when_used="json")]
LocalTime = Annotated[
    datetime,
    PlainSerializer(_with_offset, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
