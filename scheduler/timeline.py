"""The timeline a booking schedules for itself: reminders, expiry of an unanswered request, and its finish.

One job per timeline (kind `booking.timeline`) rather than one per step: a
booking is created with a single job row, which runs its first step when it
is due and then queues itself again for the next (`worker.Next`). Its payload
holds the steps still to come, each `{"do": ..., "at": ...}`, and the start
the timeline was made for. Every step re-reads the booking before acting, so a
timeline of a booking that was cancelled, declined or moved in the meantime
does nothing and stops; a reschedule creates a new booking with a timeline of
its own. A step may run twice (delivery is at-least-once), so each is
idempotent (`handlers.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.jobs import NewJob
from storage.session_window import CLOSES_AFTER

from .events import iso

TIMELINE = "booking.timeline"
EXPIRE = "expire"
FINISH = "finish"
SESSION_EDGE = "session_edge"  # the session starts or ends: its practitioner's "available now" marker may change

# Reminder step -> how long before the start it is sent.
REMINDERS = {"reminder_24h": timedelta(hours=24), "reminder_15m": timedelta(minutes=15)}


@dataclass(frozen=True, slots=True)
class Step:
    do: str  # a key of REMINDERS, EXPIRE, SESSION_EDGE or FINISH
    at: datetime


def _job(booking_id: uuid.UUID, start: datetime | None, steps: list[Step]) -> NewJob:
    return NewJob(TIMELINE, payload(booking_id, start, steps), steps[0].at)


def payload(booking_id: uuid.UUID, start: datetime | None, steps: list[Step]) -> dict[str, Any]:
    """The job payload of a timeline whose next step is `steps[0]`."""
    return {
        "booking_id": str(booking_id),
        "start_at": iso(start),
        "steps": [{"do": s.do, "at": iso(s.at)} for s in steps],
    }


def steps_of(job_payload: dict[str, Any]) -> list[Step]:
    return [Step(s["do"], datetime.fromisoformat(s["at"])) for s in job_payload["steps"]]


def confirmed(booking_id: uuid.UUID, start: datetime, end: datetime, now: datetime) -> NewJob:
    """The timeline of a booking that has just been confirmed: reminders still ahead, its start and end (when
    the practitioner's "available now" marker changes by time alone), then its finish.

    The finish runs when the session window closes: until then its people may
    still meet and start it, and then a session still running is completed and
    one never started is closed.
    """
    # A reminder whose time has already passed is not sent late.
    steps = [Step(name, start - lead) for name, lead in REMINDERS.items() if start - lead > now]
    steps += [Step(SESSION_EDGE, edge) for edge in (start, end) if edge > now]
    steps.append(Step(FINISH, end + CLOSES_AFTER))
    return _job(booking_id, start, steps)


def reminder_due(kind: str, start: datetime) -> datetime:
    """When reminder `kind` (a key of REMINDERS, also the kind of its notification) of a session at `start` is due."""
    return start - REMINDERS[kind]


def is_stale(due: datetime, now: datetime, grace: timedelta) -> bool:
    """A reminder later than `grace` (the process was down, the queue was stuck) would say something no longer
    true, such as "starts in 15 minutes" about a session that is over: it is dropped instead of sent."""
    return now - due > grace


def requested(booking_id: uuid.UUID, expires_at: datetime) -> NewJob:
    """The timeline of a request awaiting the practitioner's answer: its expiry."""
    return _job(booking_id, None, [Step(EXPIRE, expires_at)])


def request_expiry(now: datetime, start: datetime, ttl: timedelta) -> datetime:
    """An unanswered request lapses after the practitioner's answer window, and at the latest at the start."""
    return min(now + ttl, start)
