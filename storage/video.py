"""Reads for video sessions: the bookings that share one session, with the names shown in the room (a client's
opened with their key, see storage.accounts).

A video session belongs to an offering at one start time: every booking of
that offering starting then (one for a 1:1 offering, several for a class)
meets in the same room. These queries only read; booking changes go through
the scheduler (`scheduler.bookings.act`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from .accounts import names
from .database import Database


@dataclass(frozen=True, slots=True)
class SessionBooking:
    """One booking of a session, as the session layer needs it."""

    id: uuid.UUID
    offering_id: uuid.UUID
    practitioner_id: uuid.UUID
    client_id: uuid.UUID
    status: str
    mode: str
    start_at: datetime
    end_at: datetime
    practitioner_name: str
    client_name: str


async def group_of(db: Database, booking_id: uuid.UUID) -> list[SessionBooking]:
    """Every booking (any status) of the offering and start of `booking_id`, that one first; [] if it does not exist."""
    rows = await db.fetch(
        "video.group_of",
        """
        SELECT b.id, b.offering_id, b.practitioner_id, b.client_id, b.status, b.mode, b.start_at, b.end_at,
               p.display_name AS p_name, p.name_sealed AS p_name_sealed,
               c.display_name AS c_name, c.name_sealed AS c_name_sealed
        FROM bookings t
        JOIN bookings b ON b.practitioner_id = t.practitioner_id AND b.offering_id = t.offering_id
                       AND b.start_at = t.start_at
        JOIN users p ON p.id = b.practitioner_id
        JOIN users c ON c.id = b.client_id
        WHERE t.id = $1
        ORDER BY b.id <> $1, b.created_at, b.id
        """,
        booking_id,
    )
    shown = iter(await names(db, [
        person for r in rows for person in ((r["practitioner_id"], r["p_name"], r["p_name_sealed"]),
                                            (r["client_id"], r["c_name"], r["c_name_sealed"]))
    ]))
    return [
        SessionBooking(r["id"], r["offering_id"], r["practitioner_id"], r["client_id"], r["status"], r["mode"],
                       r["start_at"], r["end_at"], practitioner_name=next(shown), client_name=next(shown))
        for r in rows
    ]
