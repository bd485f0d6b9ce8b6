"""Live booking updates over Socket.IO: in order, participants only, recovered after a reconnect."""

from __future__ import annotations

from klear_client import EventRefused

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY, make_practitioner, next_weekday_date


async def test_a_client_watches_a_booking_get_confirmed_live_and_recovers_what_it_missed(
    start_server, redis_env, clients, realtime
):
    a = await start_server(**redis_env)
    b = await start_server(**redis_env)
    p = await make_practitioner(clients(a.url), weekly=ALL_DAY, needs_approval=True)
    client = await signed_up(clients(b.url))
    day = next_weekday_date(3)

    watcher = await realtime(client)  # on process b; the practitioner acts on process a
    feed = await watcher.call("bookings:subscribe", {"last_seq": 0})
    assert feed["last_seq"] == 0
    booking = await client.book(p.offering_id, f"{day}T10:00:00Z")
    ack = await watcher.call("booking:subscribe", {"booking_id": booking["id"], "last_seq": 0})
    assert ack["ok"]

    await p.client.booking_action(booking["id"], "confirm")
    update = await watcher.next_event("booking:update")
    while update["seq"] == 1:  # the creation arrives first (as backlog or live)
        update = await watcher.next_event("booking:update")
    assert (update["seq"], update["event"]["type"], update["event"]["booking"]["status"]) == (2, "booking.confirmed", "confirmed")

    # Offline: the practitioner cancels; the client reconnects and recovers what it missed.
    await watcher.sio.disconnect()
    await p.client.booking_action(booking["id"], "cancel", "called away")
    await watcher.connect()
    recovered = await watcher.call("booking:subscribe", {"booking_id": booking["id"], "last_seq": 2})
    assert recovered["sent"] == 1 and recovered["last_seq"] == 3
    missed = await watcher.next_event("booking:update")
    while missed["seq"] != 3:
        missed = await watcher.next_event("booking:update")
    assert missed["event"]["booking"]["status"] == "cancelled"
    again = await watcher.call("bookings:subscribe", {"last_seq": 1})
    assert again["sent"] == 2 and again["last_seq"] == 3
    feed_updates = [await watcher.next_event("bookings:update") for _ in range(2)]
    assert [(u["seq"], u["booking_seq"], u["booking_id"]) for u in feed_updates] == [
        (2, 2, booking["id"]), (3, 3, booking["id"])]
    assert feed_updates[1]["event"] == missed["event"]  # the feed carries the same body as the booking stream


async def test_only_participants_may_follow_a_booking(server, clients, realtime):
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY)
    client = await signed_up(clients(server.url))
    booking = await client.book(p.offering_id, f"{next_weekday_date(4)}T11:00:00Z")
    outsider = await realtime(await signed_up(clients(server.url)))
    try:
        await outsider.call("booking:subscribe", {"booking_id": booking["id"]})
        raise AssertionError("an outsider followed someone else's booking")
    except EventRefused as err:
        assert err.code == "not_participant"


async def test_notifications_are_pushed_to_the_users_sockets(server, clients, realtime):
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY, needs_approval=True)
    practitioner_rt = await realtime(p.client)
    client = await signed_up(clients(server.url))
    await client.book(p.offering_id, f"{next_weekday_date(5)}T12:00:00Z")
    note = await practitioner_rt.next_event("notification:new", timeout=10)
    listed = await p.client.notifications()
    assert note["id"] in [n["id"] for n in listed["items"]]
    assert note["booking_id"] and note["kind"]
