"""No webhook is lost when the server dies in the middle of delivering one: the next server sends it again."""

from __future__ import annotations

import asyncio

import pytest

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY, make_practitioner, next_weekday_date
from ..support.eventually import eventually, holds
from .conftest import WEBHOOKS

pytestmark = pytest.mark.slow


async def test_a_delivery_in_flight_when_the_server_is_killed_is_sent_again_and_nothing_is_lost(
    start_server, clients, receiver
):
    env = {**WEBHOOKS, "KLEAR_JOB_LEASE": "2", "KLEAR_JOB_POLL_INTERVAL": "0.1"}
    server = await start_server(**env)
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY, needs_approval=True)
    hook = await p.client.subscribe_webhook(receiver.url, ["booking.created", "booking.confirmed", "booking.cancelled"])
    receiver.secret = hook["secret"]
    receiver.hold = asyncio.Event()  # the receiver takes its time: the first delivery is in flight
    client = await signed_up(clients(server.url))
    booking = await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")
    await eventually(lambda: holds(receiver.waiting == 1, receiver.waiting))
    await p.client.booking_action(booking["id"], "confirm")
    await client.booking_action(booking["id"], "cancel", "called away")

    await server.kill()  # mid-delivery: no goodbye, no hand-back; the job's lease runs out
    receiver.hold.set()
    again = await start_server(**env)
    p.client.base_url = again.url
    await eventually(lambda: holds(len(receiver.delivered()) >= 4, receiver.got), timeout=30)

    ids = [r.webhook_id for r in receiver.delivered()]
    seqs = [r.payload["data"]["booking_seq"] for r in receiver.delivered()]
    assert seqs == [1, 1, 2, 3]  # the interrupted one twice (at least once), then the rest, in order
    assert ids[0] == ids[1] and len(set(ids)) == 3
    log = await p.client.webhook_deliveries(hook["id"])
    assert {d["state"] for d in log} == {"delivered"}
