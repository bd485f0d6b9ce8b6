"""What the "available now" marker reads from the database; presence, the rest of it, is in Redis (channels)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from .database import Database


async def showing_and_free(db: Database, practitioner_ids: Sequence[uuid.UUID], now: datetime) -> set[uuid.UUID]:
    """Of `practitioner_ids`, those who chose to show the marker, accept bookings (an active offering) and are in
    no session at `now` (no confirmed or started booking whose [start, end) holds it). Only their presence may be
    read for the marker."""
    rows = await db.fetch(
        "available_now.showing_and_free",
        """
        SELECT p.user_id FROM practitioners p
        WHERE p.user_id = ANY ($1::uuid[]) AND p.show_available_now
          AND EXISTS (SELECT 1 FROM offerings o WHERE o.practitioner_id = p.user_id AND o.active)
          AND NOT EXISTS (
              SELECT 1 FROM bookings b
              WHERE b.practitioner_id = p.user_id AND b.status IN ('confirmed', 'in_session')
                AND b.start_at <= $2 AND b.start_at > $2 - interval '1 day' AND b.end_at > $2)
        """,
        list(practitioner_ids), now,
    )
    return {r["user_id"] for r in rows}
