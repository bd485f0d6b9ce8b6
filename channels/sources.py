"""Where each kind of stream is stored, for `Streams`: conversations, bookings, booking feeds."""

from __future__ import annotations

import uuid
from typing import Any

from storage import bookings, conversations, messages
from storage.database import Database


class ConversationSource:
    """A conversation's messages, by seq."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_seq(self, key: uuid.UUID) -> int:
        return await conversations.last_seq(self._db, key)

    async def between(self, key: uuid.UUID, after_seq: int, upto_seq: int, limit: int) -> list[Any]:
        return await messages.between(self._db, key, after_seq, upto_seq, limit)


class BookingSource:
    """One booking's updates, by the booking's seq."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_seq(self, key: uuid.UUID) -> int:
        booking = await bookings.get(self._db, key)
        return 0 if booking is None else booking.seq

    async def between(self, key: uuid.UUID, after_seq: int, upto_seq: int, limit: int) -> list[Any]:
        events = await bookings.booking_events_since(self._db, key, after_seq, limit)
        return [e for e in events if e.seq <= upto_seq]


class FeedSource:
    """One user's feed of updates to all their bookings, by the user's feed seq."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_seq(self, key: uuid.UUID) -> int:
        return await bookings.feed_position(self._db, key)

    async def between(self, key: uuid.UUID, after_seq: int, upto_seq: int, limit: int) -> list[Any]:
        events = await bookings.feed_events_since(self._db, key, after_seq, limit)
        return [e for e in events if e.seq <= upto_seq]
