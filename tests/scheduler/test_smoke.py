"""One booking end to end: slots, book, retry, conflict."""

from __future__ import annotations

import pytest

from klear_client import ApiError

from ..conftest import signed_up
from .conftest import make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick


async def test_book_a_slot_and_retry(app, clients):
    p = await make_practitioner(clients(app.url))
    client = await signed_up(clients(app.url))
    day = next_weekday_date(2)
    slots = await client.slots(p.id, p.offering_id, day, day, "UTC")
    assert len(slots["slots"]) == 15  # 09:00 to 16:00, every 30 minutes
    start = slots["slots"][0]["start"]
    first = await client.book(p.offering_id, start, idempotency_key="k1", note="sore back")
    again = await client.book(p.offering_id, start, idempotency_key="k1", note="sore back")
    assert first["id"] == again["id"] and first["status"] == "confirmed"
    other = await signed_up(clients(app.url))
    with pytest.raises(ApiError) as err:
        await other.book(p.offering_id, start)
    assert (err.value.status, err.value.code) == (409, "slot_unavailable")
    slots = await client.slots(p.id, p.offering_id, day, day, "UTC")
    assert len(slots["slots"]) == 13  # 09:00 and 09:30 now overlap the booking
