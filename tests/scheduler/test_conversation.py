"""A booking's conversation is made in the statement that creates the booking: kind `booking`, its client and
practitioner as its only members."""

from __future__ import annotations

import uuid

import pytest

from storage import conversations
from storage.crypto import Sealer
from storage.database import Database

from ..conftest import signed_up
from .conftest import ALL_DAY, make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick


async def test_a_new_booking_has_a_two_person_conversation(app, clients, database_url):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY)
    client = await signed_up(clients(app.url))
    booked = await client.book(p.offering_id, f"{next_weekday_date(2)}T10:00:00Z")
    me, them = uuid.UUID(client.session.user_id), uuid.UUID(p.id)
    db = await Database.connect(database_url, Sealer(b"k" * 32), min_size=1, max_size=1)
    try:
        made = await conversations.for_member(db, uuid.UUID(booked["conversation_id"]), me)
        assert made is not None
        assert (made.conversation.kind, made.conversation.booking_id) == ("booking", uuid.UUID(booked["id"]))
        assert sorted(made.conversation.member_ids) == sorted([me, them])
    finally:
        await db.close()
