"""The official JavaScript client (socket.io-client 4.x under node), following docs/protocol.md only."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from ..support.eventually import eventually
from ..support.tools import require
from .conftest import pair

SCRIPT = Path(__file__).resolve().parents[1] / "js" / "chat_client.mjs"


class Node:
    """The node chat client, driven one JSON line at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def tell(self, **cmd: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float = 10.0) -> dict:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                raise AssertionError("node client exited")
            msg = json.loads(line)
            if msg["event"] == event:
                return msg


@pytest.fixture
async def node_client():
    require([] if shutil.which("node") else ["node"], "the JavaScript client test")
    started: list[Node] = []

    async def start(url: str, token: str, cid: str, framing: str = "json") -> Node:
        proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), url, token, cid, framing,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        node = Node(proc)
        started.append(node)
        return node

    yield start
    for node in started:
        if node.proc.returncode is None:
            node.proc.kill()
            await node.proc.wait()


@pytest.mark.parametrize("framing", ["json", "msgpack"])
async def test_js_client_connects_sends_receives_and_recovers_after_reconnect(server, clients, realtime, node_client, framing):
    alice, bob, cid = await pair(clients, server.url)
    js = await node_client(server.url, alice.session.access_token, cid, framing)
    assert (await js.expect("joined"))["ok"] is True

    py = await realtime(bob)
    await py.join(cid)
    await js.tell(do="send", body="hello from javascript")
    assert (await js.expect("sent"))["seq"] == 1
    assert (await py.next_event("message:new"))["body"] == "hello from javascript"

    await py.send(cid, "hello from python")
    got = await js.expect("message:new")
    got = got if got["seq"] == 2 else await js.expect("message:new")
    assert (got["seq"], got["body"], got["sender_id"]) == (2, "hello from python", bob.session.user_id)

    await js.tell(do="bad")
    assert (await js.expect("bad")) == {"event": "bad", "ok": False, "code": "invalid_payload"}

    await js.tell(do="disconnect")
    await js.expect("offline")
    for i in range(3):
        await py.send(cid, f"while you were away {i}")
    await js.tell(do="reconnect")
    rejoined = await js.expect("joined")
    assert rejoined["ok"] and rejoined["last_seq"] == 5
    await py.send(cid, "live again")

    async def reported_the_live_one() -> dict:
        await js.tell(do="report")
        report = await js.expect("report")
        assert report["received"][-1:] == [6], report
        return report

    report = await eventually(reported_the_live_one)
    assert report["received"] == [1, 2, 3, 4, 5, 6]
    await js.tell(do="quit")


async def test_js_client_gets_a_coded_connect_error_for_a_bad_token(server, clients, node_client):
    alice, _, cid = await pair(clients, server.url)
    js = await node_client(server.url, "forged.token.value", cid)
    err = await js.expect("connect_error")
    assert err["code"] == "token_invalid" and err["message"]


@pytest.mark.parametrize("framing", ["json", "msgpack"])
async def test_js_and_python_clients_read_each_others_encrypted_messages(app, clients, realtime, node_client, framing):
    """The node client encrypts with tweetnacl by the layout in docs/protocol.md alone (under msgpack it sends the
    binary fields as raw bytes); the Python SDK reads its message, and it reads the SDK's."""
    alice, bob, cid = await pair(clients, app.url, e2ee=True)
    js = await node_client(app.url, alice.session.access_token, cid, framing)
    assert (await js.expect("joined"))["ok"] is True
    await js.tell(do="e2ee", key_id="node")
    assert (await js.expect("e2ee"))["status"] == 201
    py = await realtime(bob, serializer=framing)
    await py.enable_e2ee("laptop")
    await py.join(cid)  # learns the node device's key

    from_js = "From node: breathe in for four 🌿"
    await js.tell(do="send_sealed", text=from_js, members=[alice.session.user_id, bob.session.user_id])
    sent = await js.expect("sent")
    assert (sent["ok"], sent["seq"]) == (True, 1), sent
    got = await py.next_event("message:new")
    assert (got["seq"], got["body"], got["text"]) == (1, None, from_js)

    from_py = "From python: see you at nine"
    await py.send(cid, from_py)
    got_js = await js.expect("message:new")
    # Whatever the framing, the server hands binary fields out as base64 text.
    assert (got_js["seq"], got_js["text"], got_js.get("ciphertext_type")) == (2, from_py, "string"), got_js
    await js.tell(do="quit")
