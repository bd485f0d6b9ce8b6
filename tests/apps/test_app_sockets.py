"""An app's socket: it follows the bookings of who authorised it (same seq and recovery), and nothing more."""

from __future__ import annotations

import pytest

from klear_client import ApiError, EventRefused, Realtime

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY, make_practitioner, next_weekday_date
from .conftest import as_token, authorised, register_app

pytestmark = pytest.mark.quick


async def test_an_app_follows_its_persons_bookings_live_until_the_person_revokes_it(app, clients):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY, needs_approval=True)
    registered = await register_app(p.client)
    tokens = await authorised(p.client, registered.oauth, ["bookings:read"])
    rt = Realtime(as_token(p.client, tokens.access_token), reconnect=False)
    await rt.connect()
    try:
        assert (await rt.call("bookings:subscribe", {"last_seq": 0}))["last_seq"] == 0
        client = await signed_up(clients(app.url))
        booking = await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")
        await p.client.booking_action(booking["id"], "confirm")
        updates = [await rt.next_event("bookings:update") for _ in range(2)]
        assert [(u["seq"], u["event"]["type"]) for u in updates] == [(1, "booking.created"), (2, "booking.confirmed")]
        ack = await rt.call("booking:subscribe", {"booking_id": booking["id"], "last_seq": 1})
        assert (ack["sent"], ack["last_seq"]) == (1, 2)  # recovery from a seq, as for the person's own socket

        for event, data in (("presence:set", {"state": "away"}), ("conversation:join", {"conversation_id": booking["id"]})):
            with pytest.raises(EventRefused) as err:
                await rt.call(event, data)
            assert err.value.code == "insufficient_scope"

        await p.client.disconnect_app(registered.record["id"])
        revoked = await rt.next_event("auth:expired")
        assert revoked["code"] == "token_revoked"
        await rt.next_event("disconnect")
    finally:
        await rt.close()


async def test_an_app_token_without_bookings_read_gets_no_socket(app, clients):
    person = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(person)
    tokens = await authorised(person, registered.oauth, ["profile:read"])
    rt = Realtime(as_token(person, tokens.access_token), reconnect=False)
    try:
        with pytest.raises(ApiError) as err:
            await rt.connect()
        assert err.value.code == "insufficient_scope"
    finally:
        await rt.close()
