"""Contacts are consented to: a direct conversation is a request until the person asked accepts it (or the two
have a booking), and until then it carries no messages, presence or device keys."""

from __future__ import annotations

import pytest
from klear_client import ApiError, EventRefused

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY, make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick


async def _presence_ids(watcher, until_user: str) -> list[str]:
    """The user ids of the presence events `watcher` got, up to and including one about `until_user`."""
    seen = []
    while True:
        event = await watcher.next_event("presence")
        seen.append(event["user_id"])
        if event["user_id"] == until_user:
            return seen


async def test_a_direct_conversation_is_a_request_nobody_can_use_until_the_person_asked_accepts(app, clients, realtime):
    client = await signed_up(clients(app.url), "client")
    stranger = await signed_up(clients(app.url), "practitioner")
    asked = await stranger.request_conversation(client.session.user_id)
    assert (asked["state"], asked["requested_by"]) == ("pending", stranger.session.user_id)
    listed = {c["id"]: c for c in await client.conversations()}
    assert listed[asked["id"]]["state"] == "pending"  # the person asked sees the request
    cid = asked["id"]
    for user in (stranger, client):
        rt = await realtime(user)
        for attempt in (rt.join(cid), rt.send(cid, "hello?"), rt.read(cid, 0)):
            with pytest.raises(EventRefused) as refused:
                await attempt
            assert refused.value.code == "request_pending"
    with pytest.raises(ApiError) as own:
        await stranger.accept_conversation(cid)
    assert (own.value.status, own.value.code) == (403, "own_request")

    accepted = await client.accept_conversation(cid)
    assert accepted["state"] == "accepted"
    assert (await client.accept_conversation(cid))["state"] == "accepted"  # accepting again changes nothing
    rs = await realtime(stranger)
    await rs.join(cid)
    assert (await rs.send(cid, "thanks for accepting"))["seq"] == 1


async def test_keys_and_presence_of_the_person_asked_stay_hidden_until_they_accept(app, clients, realtime):
    client = await signed_up(clients(app.url), "client")
    stranger = await signed_up(clients(app.url), "practitioner")
    cid = (await stranger.request_conversation(client.session.user_id, e2ee=True))["id"]
    rc = await realtime(client)
    await rc.enable_e2ee("phone")
    keys = await stranger.raw("GET", f"/api/v1/users/{client.session.user_id}/keys")
    assert keys.status == 404 and keys.body["error"]["code"] == "not_found"
    presence = await stranger.call("GET", "/presence", params={"user_ids": client.session.user_id})
    assert presence["users"] == []

    await client.accept_conversation(cid)
    keys = await stranger.call("GET", f"/users/{client.session.user_id}/keys")
    assert [k["key_id"] for k in keys["keys"]] == ["phone"]
    presence = await stranger.call("GET", "/presence", params={"user_ids": client.session.user_id})
    assert [(u["user_id"], u["state"]) for u in presence["users"]] == [(client.session.user_id, "online")]


async def test_presence_events_reach_only_accepted_contacts(app, clients, realtime):
    client = await signed_up(clients(app.url), "client")
    stranger = await signed_up(clients(app.url), "practitioner")
    cid = (await stranger.request_conversation(client.session.user_id))["id"]
    watcher = await realtime(stranger)
    assert await _presence_ids(watcher, stranger.session.user_id) == [stranger.session.user_id]
    rc = await realtime(client)
    await _presence_ids(rc, client.session.user_id)  # the client's coming online has been announced
    # The watcher's own change goes out after it: had the client's reached the watcher, it would be first.
    await watcher.set_presence("away")
    assert await _presence_ids(watcher, stranger.session.user_id) == [stranger.session.user_id]

    await client.accept_conversation(cid)
    await rc.set_presence("away")
    assert await _presence_ids(watcher, client.session.user_id) == [client.session.user_id]


async def test_a_booking_between_the_two_accepts_their_request(app, clients, realtime):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY)
    client = await signed_up(clients(app.url))
    before = await p.client.request_conversation(client.session.user_id)
    assert before["state"] == "pending"
    await client.book(p.offering_id, f"{next_weekday_date(2)}T10:00:00Z")
    listed = {c["id"]: c for c in await p.client.conversations()}
    assert listed[before["id"]]["state"] == "accepted"
    rp = await realtime(p.client)
    await rp.join(before["id"])
    assert (await rp.send(before["id"], "looking forward to it"))["seq"] == 1
    # Once they have a booking, a new direct conversation needs no acceptance either.
    e2ee = await p.client.request_conversation(client.session.user_id, e2ee=True)
    assert e2ee["state"] == "accepted"


async def test_asking_back_accepts_the_request(app, clients):
    client = await signed_up(clients(app.url), "client")
    practitioner = await signed_up(clients(app.url), "practitioner")
    asked = await practitioner.request_conversation(client.session.user_id)
    again = await practitioner.request_conversation(client.session.user_id)
    assert (again["id"], again["state"]) == (asked["id"], "pending")  # asking twice is not consent
    back = await client.request_conversation(practitioner.session.user_id)
    assert (back["id"], back["state"]) == (asked["id"], "accepted")


async def test_accepting_a_conversation_you_are_not_in_is_not_found(app, clients):
    client = await signed_up(clients(app.url), "client")
    practitioner = await signed_up(clients(app.url), "practitioner")
    outsider = await signed_up(clients(app.url), "client")
    cid = (await practitioner.request_conversation(client.session.user_id))["id"]
    resp = await outsider.raw("POST", f"/api/v1/conversations/{cid}/accept")
    assert resp.status == 404 and resp.body["error"]["code"] == "not_found"
    assert (await client.conversations())[0]["state"] == "pending"
