"""The jobs a booking schedules for itself: reminders, expiry of an unanswered request, and its finish.

Every job is keyed by booking (dedupe_key), so queueing twice is harmless, and
every handler re-reads the booking before acting, so a job for a booking that
was cancelled, declined or moved in the meantime does nothing. A reschedule
creates a new booking with jobs of its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from storage.jobs import NewJob

from .states import CLOSES_AFTER

REMINDER = "booking.reminder"
EXPIRE = "booking.expire"
FINISH = "booking.finish"

# Reminder name -> how long before the start it is sent.
REMINDERS = {"24h": timedelta(hours=24), "15m": timedelta(minutes=15)}


def confirmed(booking_id: uuid.UUID, start: datetime, end: datetime, now: datetime) -> list[NewJob]:
    """Reminders still ahead of us, and the finish, for a booking that has just been confirmed."""
    payload = {"booking_id": str(booking_id), "start_at": start.isoformat()}
    jobs = [
        NewJob(REMINDER, {**payload, "reminder": name}, start - lead, f"{REMINDER}:{booking_id}:{name}")
        for name, lead in REMINDERS.items()
        if start - lead > now  # a reminder whose time has passed when booking is not sent late
    ]
    # When the session window closes, a session still running is completed and one never started is closed:
    # until then its people may still meet and start it.
    jobs.append(NewJob(FINISH, payload, end + CLOSES_AFTER, f"{FINISH}:{booking_id}"))
    return jobs


def requested(booking_id: uuid.UUID, expires_at: datetime) -> list[NewJob]:
    """The expiry of a request awaiting the practitioner's answer."""
    return [NewJob(EXPIRE, {"booking_id": str(booking_id)}, expires_at, f"{EXPIRE}:{booking_id}")]


def request_expiry(now: datetime, start: datetime, ttl: timedelta) -> datetime:
    """An unanswered request lapses after the practitioner's answer window, and at the latest at the start."""
    return min(now + ttl, start)
