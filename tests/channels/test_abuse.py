"""Bad payloads, unknown events, oversized messages and floods get clean, coded answers."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import socketio

from ..conftest import signed_up
from ..support.eventually import eventually, holds
from ..support.rawws import RawSocketIO
from .conftest import pair


@pytest.fixture
async def joined(server, clients, realtime):
    alice, bob, cid = await pair(clients, server.url)
    ra = await realtime(alice)
    await ra.join(cid)
    return ra, cid


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("just a string", "invalid_payload"),
        ([1, 2, 3], "invalid_payload"),
        ({}, "invalid_payload"),
        ({"conversation_id": "not-a-uuid", "client_id": str(uuid.uuid4()), "body": "x"}, "invalid_payload"),
        ({"conversation_id": "CID", "client_id": 12, "body": "x"}, "invalid_payload"),
        ({"conversation_id": "CID", "client_id": str(uuid.uuid4()), "body": 42}, "invalid_payload"),
        ({"conversation_id": "CID", "client_id": str(uuid.uuid4())}, "invalid_payload"),
        ({"conversation_id": "CID", "client_id": str(uuid.uuid4()), "body": "x", "admin": True}, "invalid_payload"),
        ({"conversation_id": "CID", "client_id": str(uuid.uuid4()), "body": "é" * 4200}, "payload_too_large"),
    ],
)
async def test_bad_message_payloads_are_refused_in_the_ack(joined, payload, code):
    ra, cid = joined
    if isinstance(payload, dict) and payload.get("conversation_id") == "CID":
        payload = {**payload, "conversation_id": cid}
    ack = await ra.sio.call("message:send", payload, timeout=5)
    assert ack["ok"] is False
    assert ack["error"]["code"] == code and ack["error"]["message"]


async def test_a_message_of_exactly_8_kib_is_accepted(joined):
    ra, cid = joined
    sent = await ra.send(cid, "a" * 8192)
    assert len(sent["body"]) == 8192


async def test_unknown_events_are_answered_and_ignored(joined):
    ra, cid = joined
    ack = await ra.sio.call("message:explode", {"conversation_id": cid}, timeout=5)
    assert ack == {"ok": False, "error": {"code": "unknown_event", "message": "No such event."}}
    assert (await ra.send(cid, "still fine"))["seq"] == 1


async def test_events_for_unknown_conversations_are_refused(joined):
    ra, _ = joined
    ack = await ra.sio.call("conversation:join", {"conversation_id": str(uuid.uuid4())}, timeout=5)
    assert ack["error"]["code"] == "not_member"


async def test_sending_too_fast_is_rate_limited_with_retry_after(start_server, clients, realtime, redis_env):
    server = await start_server(KLEAR_CHAT_RATE="3/60", **redis_env)
    alice, bob, cid = await pair(clients, server.url)
    ra = await realtime(alice)
    await ra.join(cid)
    for i in range(3):
        await ra.send(cid, f"ok{i}")
    ack = await ra.sio.call("message:send", {"conversation_id": cid, "client_id": str(uuid.uuid4()), "body": "flood"}, timeout=5)
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    assert 0 < ack["error"]["retry_after"] <= 20
    history = await alice.call("GET", f"/conversations/{cid}/messages")
    assert [m["body"] for m in history["messages"]] == ["ok0", "ok1", "ok2"]


async def test_a_packet_over_64_kib_closes_only_that_connection(server, clients, realtime):
    alice, bob, cid = await pair(clients, server.url)
    ra, rb = await realtime(alice, reconnect=False), await realtime(bob)
    await ra.join(cid)
    await rb.join(cid)
    await ra.sio.emit("message:send", {"conversation_id": cid, "client_id": str(uuid.uuid4()), "body": "x" * 70_000})
    reason = await ra.next_event("disconnect", timeout=5)
    assert reason is not None
    assert (await rb.send(cid, "the server is fine"))["seq"] == 1


async def test_a_client_that_stops_reading_is_disconnected_and_others_keep_receiving(start_server, clients, realtime):
    server = await start_server(KLEAR_SOCKET_MAX_PENDING="65536")
    alice, bob, cid = await pair(clients, server.url)
    stalled = await RawSocketIO.connect(server.port, bob.session.access_token)
    stalled.emit("conversation:join", {"conversation_id": cid}, ack_id=1)
    while not (await stalled.recv()).startswith("431"):  # read up to the join's ack; from now on it never reads again
        pass
    ra = await realtime(alice)
    await ra.join(cid)
    watcher = await realtime(await _second_device(clients, server.url, bob))
    await watcher.join(cid)
    # The kernel buffers a few MiB for the stalled socket first (tcp_wmem); then our limit applies.
    sent = 0
    while not any(e.get("event") == "slow_consumer" for e in server.logs) and sent < 2000:
        await ra.send(cid, f"{sent:04d}" + "x" * 8000)
        sent += 1
    assert any(e.get("event") == "slow_consumer" for e in server.logs), f"not dropped after {sent} messages"
    await eventually(lambda: holds(len(watcher.received[cid]) >= sent, len(watcher.received[cid])))
    assert [m["seq"] for m in watcher.received[cid]] == list(range(1, sent + 1))
    await stalled.close()


async def _second_device(clients, url, user):
    other = clients(url)
    other.session = user.session
    return other


async def test_malformed_packets_leave_only_json_lines_in_the_log_and_end_the_socket(server, clients):
    user = await signed_up(clients(server.url))
    for _ in range(3):
        bad = await RawSocketIO.connect(server.port, user.session.access_token)
        for packet in ('42["message:send", not json', "49", '42{"not": "a list"}', '43x', '42['):
            bad.send(packet)
        heard: list[str] = []
        try:
            while not heard or heard[-1] != "1":  # Engine.IO CLOSE
                heard.append(await asyncio.wait_for(bad.recv(), 5))
        except asyncio.IncompleteReadError:
            pass
        assert any("protocol_error" in h for h in heard), heard
        await bad.close()
    sio = socketio.AsyncClient(reconnection=False)  # a JSON client on the msgpack path
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(server.url, socketio_path="socket.io-msgpack", transports=["websocket"],
                          auth={"token": user.session.access_token}, wait_timeout=5)
    await sio.shutdown()
    await server.logs_flushed()
    not_json = [line for line in server.raw_logs if not line.startswith("{")]
    assert not not_json, not_json[:10]
    errors = [e for e in server.logs if e.get("event") == "protocol_error"]
    assert len(errors) == 3 * 5  # one line per bad packet, up to the budget (KLEAR_SOCKET_MAX_PROTOCOL_ERRORS=5)
    assert not [e for e in server.logs if "traceback" in e]
