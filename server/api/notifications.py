"""Your in-app notifications (listed newest first, marked read) and which of them also come by email.

New notifications are also pushed live: the scheduler publishes each on the
bus channel "notifications" for the socket layer (see docs/booking.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from scheduler.live import notification_body
from storage import notifications
from storage.notifications import Preferences

from ..errors import Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import instant

routes = RouteTable("notifications")


class NotificationOut(Output):
    id: uuid.UUID
    kind: str = Field(description="booking_requested, booking_confirmed, reminder_24h, reminder_15m, ...")
    category: Literal["reminder", "update"]
    booking_id: uuid.UUID | None
    data: dict[str, object] = Field(description="Times in UTC, offering name, the other person (see docs/booking.md).")
    created_at: datetime
    read_at: datetime | None


class NotificationList(Output):
    items: list[NotificationOut]
    unread: int
    next_before: str | None = Field(description="Pass as `before` for the next page; null at the end.")


class ListQuery(QueryInput):
    unread: bool = False
    limit: int = Field(50, ge=1, le=200)
    before: str | None = Field(None, max_length=100)


class MarkReadIn(Input):
    ids: list[uuid.UUID] | None = Field(None, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadIn:
        if (self.ids is None) == (not self.all):
            raise ValueError("send either ids or all: true")
        return self


class MarkedOut(Output):
    updated: int
    unread: int


class PreferencesIO(Input):
    email_reminders: bool = Field(description="Email the 24-hour and 15-minute reminders.")
    email_updates: bool = Field(description="Email booking requests, confirmations, cancellations and moves.")


@routes.get("/notifications", query=ListQuery, response=NotificationList, errors=(422,))
async def list_notifications(call: Call[None]) -> NotificationList:
    """Your notifications, newest first."""
    q: ListQuery = call.query
    before = None
    if q.before is not None:
        try:
            at, _, raw_id = q.before.rpartition("_")
            before = (instant(at), uuid.UUID(raw_id))
        except ValueError:
            raise Unprocessable("`before` is not a cursor this API returned.", details=[
                {"loc": ["query", "before"], "message": "invalid cursor", "type": "value_error"}
            ]) from None
    db, me = call.runtime.db, call.principal.user_id
    found = await notifications.list_for(db, me, unread_only=q.unread, limit=q.limit, before=before)
    last = found[-1] if len(found) == q.limit else None
    return NotificationList(
        items=[NotificationOut.model_validate(notification_body(n)) for n in found],
        unread=await notifications.unread_count(db, me),
        next_before=None if last is None else f"{last.created_at.isoformat().replace('+00:00', 'Z')}_{last.id}",
    )


@routes.post("/notifications/read", body=MarkReadIn, response=MarkedOut, errors=(422,))
async def mark_read(call: Call[MarkReadIn]) -> MarkedOut:
    """Mark some (ids) or all of your notifications read."""
    db, me = call.runtime.db, call.principal.user_id
    updated = await notifications.mark_read(db, me, None if call.body.all else call.body.ids)
    return MarkedOut(updated=updated, unread=await notifications.unread_count(db, me))


@routes.get("/me/notification-preferences", response=PreferencesIO)
async def get_preferences(call: Call[None]) -> PreferencesIO:
    """Which notifications you also get by email (all of them, until you change it)."""
    prefs = await notifications.preferences(call.runtime.db, call.principal.user_id)
    return PreferencesIO(email_reminders=prefs.email_reminders, email_updates=prefs.email_updates)


@routes.put("/me/notification-preferences", body=PreferencesIO, response=PreferencesIO, errors=(422,))
async def put_preferences(call: Call[PreferencesIO]) -> PreferencesIO:
    """Choose which notifications also come by email. In-app notifications are always kept."""
    await notifications.save_preferences(
        call.runtime.db, call.principal.user_id, Preferences(call.body.email_reminders, call.body.email_updates)
    )
    return call.body
