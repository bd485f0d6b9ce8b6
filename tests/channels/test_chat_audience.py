"""Who hears what in a conversation: typing never echoes to the typist's devices, receipts are announced only
when they move (and reach the reader's other devices), and outsiders learn nothing from refusals."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from server.appkeys import CHANNELS

from .conftest import pair

pytestmark = pytest.mark.quick


async def _events_until(rt, name: str, check=lambda data: True) -> list[tuple[str, Any]]:
    """Every event `rt` received, in order, up to and including the first `name` whose data passes `check`."""
    seen = []
    while True:
        event, data = await asyncio.wait_for(rt.events.get(), 5)
        seen.append((event, data))
        if event == name and check(data):
            return seen


async def _devices(clients, realtime, url: str):
    """Alice on two devices and Bob on one, all joined to their conversation."""
    alice, bob, cid = await pair(clients, url)
    laptop_client = clients(url)
    laptop_client.session = alice.session
    phone, laptop, rb = await realtime(alice), await realtime(laptop_client), await realtime(bob)
    for rt in (phone, laptop, rb):
        await rt.join(cid)
    return cid, phone, laptop, rb


async def test_typing_reaches_the_other_members_but_never_the_typists_own_devices(app, clients, realtime):
    cid, phone, laptop, rb = await _devices(clients, realtime, app.url)
    await phone.typing(cid)
    got = await rb.next_event("typing")
    assert (got["user_id"], got["state"]) == (phone.user_id, "start")
    # A message sent after the typing reaches the laptop after anything sent to it before.
    await rb.send(cid, "after the typing")
    on_laptop = await _events_until(laptop, "message:new")
    assert [e for e, _ in on_laptop if e == "typing"] == []


async def test_a_receipt_reaches_the_readers_other_devices_and_is_announced_only_when_it_moves(app, clients, realtime):
    cid, phone, laptop, rb = await _devices(clients, realtime, app.url)
    for text in ("one", "two"):
        await rb.send(cid, text)
    assert await phone.read(cid, 2) == 2
    for rt in (rb, laptop):
        got = await rt.next_event("receipt:read")
        assert (got["user_id"], got["seq"]) == (phone.user_id, 2)
    # Not moving: the same position again, an older one, one beyond the newest message.
    assert [await phone.read(cid, s) for s in (2, 1, 99)] == [2, 2, 2]
    await phone.send(cid, "three")
    heard = await _events_until(rb, "message:new", lambda m: m["seq"] == 3)
    assert [e for e, _ in heard if e == "receipt:read"] == []


async def test_concurrent_receipts_from_two_devices_are_announced_once_per_step(app, clients, realtime):
    cid, phone, laptop, rb = await _devices(clients, realtime, app.url)
    for i in range(5):
        await rb.send(cid, f"m{i}")
    await asyncio.gather(*(rt.read(cid, s) for s in range(1, 6) for rt in (phone, laptop)))
    await phone.send(cid, "done")
    heard = await _events_until(rb, "message:new", lambda m: m["seq"] == 6)
    seqs = [d["seq"] for e, d in heard if e == "receipt:read"]
    assert len(seqs) == len(set(seqs)) and max(seqs) == 5, seqs  # each position announced at most once


def _payload(model, cid: str, seq: int) -> dict[str, Any]:
    """A well-formed payload of a conversation event, aimed at `cid` and message `seq`."""
    values = {"conversation_id": cid, "seq": seq, "body": "x", "last_seq": 0, "state": "start"}
    payload = {}
    for name, field in model.model_fields.items():
        if name == "client_id":
            payload[name] = str(uuid.uuid4())
        elif name in values:
            payload[name] = values[name]
        else:
            assert not field.is_required(), f"teach this test a value for {model.__name__}.{name}"
    return payload


async def test_an_outsider_gets_the_same_answer_whether_or_not_the_conversation_or_message_exists(app, clients, realtime):
    alice, _, cid = await pair(clients, app.url)
    ra = await realtime(alice)
    await ra.join(cid)
    await ra.send(cid, "private")
    stranger, _, _ = await pair(clients, app.url)
    outsider = await realtime(stranger)
    events = app.app[CHANNELS].hub.events()  # every event registered, so a new one is covered too
    conversation_events = {e: m for e, m in events.items() if "conversation_id" in m.model_fields}
    assert {"message:edit", "message:delete", "receipt:read", "conversation:join"} <= set(conversation_events)
    for event, model in conversation_events.items():
        answers = [await outsider.sio.call(event, _payload(model, c, s), timeout=5)
                   for c, s in ((cid, 1), (cid, 99), (str(uuid.uuid4()), 1))]
        assert answers[0] == answers[1] == answers[2], (event, answers)
        assert answers[0]["ok"] is (event == "conversation:leave"), (event, answers)
