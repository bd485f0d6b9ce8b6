"""Who may be in a video session, and when: the policy, with no I/O.

A session belongs to an offering at one start time: every booking of that
offering starting then meets in one room, so a 1:1 offering gives a session of
two and a class (an offering several clients book at the same start) gives a
group session with its practitioner. The session id is derived from the
offering and the start, so every process computes the same id without asking
anyone.

Who: the practitioner and the client of each booking that is confirmed, in
session or completed (a finish job may complete the booking while its people
are still talking); nobody else. When: from 10 minutes before the start until
15 minutes after the end, the scheduler's session window (`scheduler.states`),
so whoever may join may also start the booking. Joining is refused with a
stable code otherwise, checked in this order: who you are (`not_found`), the
booking's mode (`not_video`), its status (`not_joinable`), and only then the
time (`too_early`, `too_late`), so a session that will never open is never
announced with an opening time. Reading a session's state (`admission`)
answers with the same codes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from channels.interface import EventError
from storage.session_window import CLOSES_AFTER, OPENS_BEFORE
from storage.video import SessionBooking

JOINABLE = frozenset({"confirmed", "in_session", "completed"})
_NAMESPACE = uuid.UUID("5f0b7a1e-2d7c-4f43-9a55-3c1f0e6b9d21")


@dataclass(frozen=True, slots=True)
class Person:
    """A participant as the room shows them."""

    user_id: uuid.UUID
    display_name: str
    role: str  # "practitioner" or "client"

    def json(self) -> dict[str, str]:
        return {"user_id": str(self.user_id), "display_name": self.display_name, "role": self.role}


@dataclass(frozen=True, slots=True)
class Plan:
    """The joinable bookings of one session and its window."""

    session_id: uuid.UUID
    bookings: tuple[SessionBooking, ...]
    opens_at: datetime
    closes_at: datetime

    def members(self) -> dict[uuid.UUID, Person]:
        people: dict[uuid.UUID, Person] = {}
        for b in self.bookings:
            people[b.practitioner_id] = Person(b.practitioner_id, b.practitioner_name, "practitioner")
            people[b.client_id] = Person(b.client_id, b.client_name, "client")
        return people

    def startable(self, present: set[uuid.UUID], started: set[uuid.UUID]) -> list[uuid.UUID]:
        """Confirmed bookings whose two people are both in the room now, not started before."""
        return [
            b.id for b in self.bookings
            if b.status == "confirmed" and b.id not in started and {b.client_id, b.practitioner_id} <= present
        ]

    def window_json(self) -> dict[str, str]:
        return {"opens_at": _iso(self.opens_at), "closes_at": _iso(self.closes_at)}


def session_id(offering_id: uuid.UUID, start_at: datetime) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{offering_id}/{int(start_at.timestamp())}")


def plan_of(group: list[SessionBooking]) -> Plan | None:
    """The session of a group of bookings (as `storage.video.group_of` returns it); None if none is joinable."""
    joinable = tuple(b for b in group if b.status in JOINABLE and b.mode == "video")
    if not joinable:
        return None
    start = min(b.start_at for b in joinable)
    return Plan(
        session_id(joinable[0].offering_id, joinable[0].start_at), joinable, start - OPENS_BEFORE,
        max(b.end_at for b in joinable) + CLOSES_AFTER,
    )


def admission(group: list[SessionBooking], now: datetime) -> tuple[str, dict[str, str]]:
    """Whether the session of booking `group[0]` may be joined now: ``open``, or the code a join would get
    (``not_joinable``, ``too_early``, ``too_late``); and that booking's window.

    The status decides first: a cancelled session never "opens at" anything, whatever the time.
    """
    booking = group[0]
    window = {"opens_at": _iso(booking.start_at - OPENS_BEFORE), "closes_at": _iso(booking.end_at + CLOSES_AFTER)}
    if booking.status not in JOINABLE or plan_of(group) is None:
        return "not_joinable", window
    if now < booking.start_at - OPENS_BEFORE:
        return "too_early", window
    if now >= booking.end_at + CLOSES_AFTER:
        return "too_late", window
    return "open", window


def member_of(group: list[SessionBooking], user_id: uuid.UUID) -> SessionBooking:
    """The booking `group[0]` if `user_id` is its client or practitioner and it is a video booking."""
    if not group or user_id not in (group[0].client_id, group[0].practitioner_id):
        raise with_status(EventError("not_found", "No booking with that id."), 404)
    if group[0].mode != "video":
        raise with_status(EventError("not_video", "This booking is not a video session."), 409)
    return group[0]


def admit(group: list[SessionBooking], user_id: uuid.UUID, now: datetime) -> Plan:
    """The plan of the session `user_id` may join now through the booking `group[0]`; raises `EventError`.

    Checked in this order: who you are, the mode, the status, and only then the time.
    """
    booking = member_of(group, user_id)
    state, window = admission(group, now)
    if state == "not_joinable":
        raise EventError("not_joinable", f"A {booking.status} booking has no video session.", status=booking.status)
    if state == "too_early":
        raise EventError("too_early", "The session opens 10 minutes before its start.", **window)
    if state == "too_late":
        raise EventError("too_late", "The session closed 15 minutes after its end.", **window)
    plan = plan_of(group)
    assert plan is not None
    return plan


def with_status(refusal: EventError, status: int) -> EventError:
    """`refusal` with the HTTP status it has when the same check answers a REST request."""
    refusal.status = status
    return refusal


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")
