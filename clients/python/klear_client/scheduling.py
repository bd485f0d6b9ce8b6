"""REST calls of the scheduler: practitioner profiles, hours, slots, bookings, notifications, calendar feeds.

Mixed into `KlearClient`; every method returns the JSON body or raises `ApiError`.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


class SchedulingMixin:
    """Scheduling endpoints, on top of `call`."""

    async def save_practitioner_profile(self: _Caller, practitioner_id: str, **profile: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("PUT", f"/practitioners/{practitioner_id}", json_body=profile)
        return result

    async def practitioner(self: _Caller, practitioner_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/practitioners/{practitioner_id}")
        return result

    async def search_practitioners(self: _Caller, **filters: Any) -> dict[str, Any]:
        params = {k: str(v) for k, v in filters.items() if v is not None}
        result: dict[str, Any] = await self.call("GET", "/practitioners", params=params)
        return result

    async def create_offering(self: _Caller, practitioner_id: str, **offering: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/practitioners/{practitioner_id}/offerings", json_body=offering)
        return result

    async def update_offering(self: _Caller, practitioner_id: str, offering_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "PATCH", f"/practitioners/{practitioner_id}/offerings/{offering_id}", json_body=changes
        )
        return result

    async def set_hours(
        self: _Caller, practitioner_id: str, weekly: list[dict[str, Any]], overrides: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "PUT", f"/practitioners/{practitioner_id}/availability",
            json_body={"weekly": weekly, "overrides": overrides or []},
        )
        return result

    async def hours(self: _Caller, practitioner_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/practitioners/{practitioner_id}/availability")
        return result

    async def add_time_off(self: _Caller, practitioner_id: str, starts_at: str, ends_at: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", f"/practitioners/{practitioner_id}/time-off", json_body={"starts_at": starts_at, "ends_at": ends_at}
        )
        return result

    async def remove_time_off(self: _Caller, practitioner_id: str, time_off_id: str) -> None:
        await self.call("DELETE", f"/practitioners/{practitioner_id}/time-off/{time_off_id}")

    async def slots(
        self: _Caller, practitioner_id: str, offering_id: str, start: str, end: str, tz: str
    ) -> dict[str, Any]:
        """Bookable starts between `start` and `end` (dates, or instants with offsets), seen from time zone `tz`."""
        result: dict[str, Any] = await self.call(
            "GET", f"/practitioners/{practitioner_id}/slots",
            params={"offering": offering_id, "from": start, "to": end, "tz": tz},
        )
        return result

    async def book(
        self: _Caller, offering_id: str, start_at: str, *, note: str | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Book a slot; pass the same `idempotency_key` when retrying (a fresh one is made otherwise)."""
        body: dict[str, Any] = {"offering_id": offering_id, "start_at": start_at}
        if note is not None:
            body["note"] = note
        result: dict[str, Any] = await self.call(
            "POST", "/bookings", json_body=body, headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        )
        return result

    async def booking(self: _Caller, booking_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/bookings/{booking_id}")
        return result

    async def bookings(self: _Caller, **filters: Any) -> dict[str, Any]:
        params = {("from" if k == "start" else "to" if k == "end" else k): str(v) for k, v in filters.items() if v is not None}
        result: dict[str, Any] = await self.call("GET", "/bookings", params=params)
        return result

    async def booking_action(self: _Caller, booking_id: str, action: str, reason: str | None = None) -> dict[str, Any]:
        """confirm, decline, cancel, start, complete or no-show; `reason` for decline and cancel."""
        kwargs: dict[str, Any] = {"json_body": {"reason": reason}} if action in ("decline", "cancel") else {}
        result: dict[str, Any] = await self.call("POST", f"/bookings/{booking_id}/{action}", **kwargs)
        return result

    async def reschedule(self: _Caller, booking_id: str, start_at: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", f"/bookings/{booking_id}/reschedule", json_body={"start_at": start_at},
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return result

    async def booking_events(self: _Caller, booking_id: str, after: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/bookings/{booking_id}/events", params={"after": str(after)})
        return result

    async def booking_feed(self: _Caller, after: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/me/booking-feed", params={"after": str(after)})
        return result

    async def notifications(self: _Caller, *, unread: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/notifications", params={"unread": str(unread).lower()})
        return result

    async def mark_notifications_read(self: _Caller, ids: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ids": ids} if ids is not None else {"all": True}
        result: dict[str, Any] = await self.call("POST", "/notifications/read", json_body=body)
        return result

    async def notification_preferences(self: _Caller) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/me/notification-preferences")
        return result

    async def set_notification_preferences(self: _Caller, *, email_reminders: bool, email_updates: bool) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "PUT", "/me/notification-preferences",
            json_body={"email_reminders": email_reminders, "email_updates": email_updates},
        )
        return result

    async def calendar_feed_url(self: _Caller) -> str:
        """Create (or rotate) your secret calendar feed URL."""
        result: dict[str, Any] = await self.call("POST", "/me/calendar-feed")
        return str(result["url"])
