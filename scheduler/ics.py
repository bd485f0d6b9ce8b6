"""Calendar feeds (iCalendar, RFC 5545) of a user's bookings.

Each booking is one VEVENT whose UID is derived from the booking id, so it
never changes, and whose SEQUENCE is the booking's change counter, so it rises
with every change and calendar apps replace their copy. Cancelled and
declined bookings stay in the feed as STATUS:CANCELLED, which removes them
from subscribers' calendars; requests awaiting an answer are TENTATIVE.
A reschedule cancels the old booking and adds the new one as its own event.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from icalendar import Calendar, Event

from storage.bookings import BookingDetail

_STATUS = {"requested": "TENTATIVE", "cancelled": "CANCELLED", "declined": "CANCELLED"}


def uid(booking_id: uuid.UUID) -> str:
    return f"{booking_id}@klear-karma"


def feed(details: list[BookingDetail], *, owner_id: uuid.UUID, generated_at: datetime) -> bytes:
    """The feed of `owner_id`'s bookings; each event is titled with the other participant's name."""
    cal = Calendar()
    cal.add("prodid", "-//Klear Karma//Bookings//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Klear Karma sessions")
    for d in details:
        b = d.booking
        other = d.practitioner if b.client_id == owner_id else d.client
        event = Event()
        event.add("uid", uid(b.id))
        event.add("sequence", b.seq)
        event.add("dtstamp", generated_at)
        event.add("last-modified", b.updated_at)
        event.add("created", b.created_at)
        event.add("dtstart", b.start_at)
        event.add("dtend", b.end_at)
        event.add("summary", f"{d.offering_name} with {other.display_name}")
        event.add("status", _STATUS.get(b.status, "CONFIRMED"))
        event.add("location", d.address if b.mode == "in_person" and d.address else "Online (video in the Klear Karma app)")
        event.add("description", f"Booking {b.id}, {b.status.replace('_', ' ')}.")
        cal.add_component(event)
    return bytes(cal.to_ical())
