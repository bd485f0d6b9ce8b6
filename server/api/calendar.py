"""Calendar feeds: a secret URL per user that calendar apps subscribe to (iCalendar).

The token is random, shown once when created or rotated, and stored hashed.
The feed URL carries no other credential, so it is the secret: rotating it
retires the old URL at once. The access log and metrics record the route
pattern (/api/v1/calendar/{token}.ics), never the token itself.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import Field

from scheduler import ics
from storage import audit, bookings, calendar

from ..errors import NotFound
from ..routing import Call, Output, RouteTable
from .scheduling import scheduler

routes = RouteTable("calendar")

PAST = timedelta(days=60)  # how far back a feed shows sessions
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")  # what token_urlsafe makes; anything else is looked up nowhere


class CalendarFeedOut(Output):
    url: str = Field(description="Secret: anyone with it can read your sessions. Rotate it if it leaks.")


def _feed_url(call: Call[Any], token: str) -> str:
    base = call.runtime.settings.server.public_url or str(call.request.url.origin())
    return f"{base.rstrip('/')}/api/v1/calendar/{token}.ics"


@routes.post("/me/calendar-feed", response=CalendarFeedOut, status=201)
async def create_feed(call: Call[None]) -> CalendarFeedOut:
    """Create your calendar feed URL, or rotate it (the previous URL stops working)."""
    token = secrets.token_urlsafe(32)
    await calendar.set_token(call.runtime.db, call.principal.user_id, token)
    return CalendarFeedOut(url=_feed_url(call, token))


@routes.delete("/me/calendar-feed", status=204, errors=(404,))
async def delete_feed(call: Call[None]) -> None:
    """Turn your calendar feed off."""
    if not await calendar.remove_token(call.runtime.db, call.principal.user_id):
        raise NotFound("You have no calendar feed.")


@routes.get("/calendar/{token}.ics", auth=False, content_type="text/calendar", errors=(404,))
async def feed(call: Call[None]) -> web.Response:
    """Your sessions as an iCalendar feed (the secret URL from POST /me/calendar-feed)."""
    db = call.runtime.db
    token = call.request.match_info["token"]
    owner = await calendar.owner_of(db, token) if _TOKEN.match(token) else None
    if owner is None:
        raise NotFound("No calendar feed at this address.")
    now = scheduler(call).deps.clock.now()
    details = await bookings.for_calendar(db, owner, now - PAST)
    await audit.record(db, actor_id=owner, action="calendar.feed", subject_id=None, resource=f"calendar:{owner}",
                       request_id=call.request_id)
    body = ics.feed(details, owner_id=owner, generated_at=now)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=300"})
