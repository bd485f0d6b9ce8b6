"""channels.broadcast against real servers and real clients."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from channels import broadcast
from channels.wire_frames import frame_message

from ..support.eventually import eventually, holds
from .conftest import FANOUT, ROOM, ROOT, Served

HERE = Path(__file__).resolve().parent


class Collector:
    """A python-socketio AsyncClient that records every "bcast" event."""

    def __init__(self, serializer: str = "default") -> None:
        self.client = socketio.AsyncClient(serializer=serializer,
                                           reconnection=False)
        self.events: list = []
        self.client.on("bcast", self._on)

    async def _on(self, payload):
        self.events.append(payload)

    async def connect(self, url: str, transports=("websocket",), auth=None):
        await self.client.connect(url, transports=list(transports), auth=auth,
                                  wait_timeout=5)
        return self

    async def wait_for(self, n: int, timeout: float = 10.0) -> list:
        """Every event so far, once there are at least `n`."""
        await eventually(lambda: holds(len(self.events) >= n, len(self.events)), timeout=timeout)
        return self.events

    async def close(self) -> None:
        await self.client.disconnect()


async def collectors(served: Served, n: int, serializer="default",
                     transports=("websocket",)) -> list[Collector]:
    cs = [await Collector(serializer).connect(served.url, transports)
          for _ in range(n)]
    await eventually(lambda: holds(len(served.connected) >= n))
    return cs


# ------------------------------------------------------------------ basics

async def test_install_checks(server_factory):
    served = await server_factory()
    assert broadcast.get(served.sio) is served.fb
    with pytest.raises(RuntimeError, match="already installed"):
        broadcast.install(served.sio)
    class OtherManager(socketio.AsyncManager):
        pass

    other = socketio.AsyncServer(async_mode="aiohttp",
                                 client_manager=OtherManager())
    with pytest.raises(TypeError, match="AsyncPubSubManager subclasses only"):
        broadcast.install(other)

    class OverridingPubSub(AsyncPubSubManager):
        async def _handle_emit(self, message):  # pragma: no cover
            pass

    third = socketio.AsyncServer(async_mode="aiohttp",
                                 client_manager=OverridingPubSub())
    with pytest.raises(TypeError, match="overrides _handle_emit"):
        broadcast.install(third)
    # the shared engineio driver table is left alone
    from engineio.async_drivers import aiohttp as eio_aiohttp
    assert eio_aiohttp._async["websocket"] is not served.sio.eio._async["websocket"]
    assert other.eio._async["websocket"] is eio_aiohttp._async["websocket"]


async def test_no_permessage_deflate_negotiated(server_factory):
    """A client offering permessage-deflate (as browsers do) gets none."""
    served = await server_factory()
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
                f"{served.url}/socket.io/?EIO=4&transport=websocket",
                compress=15) as ws:
            assert ws.compress == 0
            assert "Sec-WebSocket-Extensions" not in ws._response.headers
            opened = await ws.receive_str()
            assert opened.startswith('0{"sid"')


@pytest.mark.parametrize("direct_route", [True, False])
async def test_text_broadcast_in_order_to_every_member(server_factory, direct_route):
    """With install(app=...) websocket connects skip engineio's request
    chain; without it they come through engineio's driver hook. Same
    behaviour either way."""
    served = await server_factory(direct_route=direct_route)
    cs = await collectors(served, 5)
    n = 300
    for i in range(n):
        await served.sio.emit("bcast", {"seq": i, "text": "héllo ✓ " * (i % 7)},
                              room=ROOM)
        if i % 50 == 0:
            await asyncio.sleep(0)
    for c in cs:
        got = await c.wait_for(n)
        assert got == [{"seq": i, "text": "héllo ✓ " * (i % 7)} for i in range(n)]
    st = served.fb.stats()
    assert st["broadcasts"] == n
    assert st["direct_writes"] == n * 5 and st["queued_writes"] == 0
    for c in cs:
        await c.close()


async def test_publish_event_acks_and_fans_out(server_factory):
    """The benchmark's shape: a publisher emits with an ack, the handler
    broadcasts and returns; the publisher is not in the room."""
    served = await server_factory()
    cs = await collectors(served, 3)
    pub = socketio.AsyncClient(reconnection=False)
    await pub.connect(served.url, transports=["websocket"],
                      auth={"role": "publisher"}, wait_timeout=5)
    for i in range(50):
        ack = await pub.call("publish", {"seq": i}, timeout=5)
        assert ack == {"ok": True, "n": 3}
    for c in cs:
        assert await c.wait_for(50) == [{"seq": i} for i in range(50)]
    await pub.disconnect()
    for c in cs:
        await c.close()


async def test_binary_attachments_json(server_factory):
    served = await server_factory()
    cs = await collectors(served, 3)
    n = 60
    blobs = [bytes([i % 256]) * (i * 37 % 5000 + 1) for i in range(n)]
    for i in range(n):
        await served.sio.emit("bcast", {"seq": i, "blob": blobs[i],
                                        "parts": [b"\x00\xff", {"x": b"abc"}]},
                              room=ROOM)
    for c in cs:
        got = await c.wait_for(n)
        assert [g["seq"] for g in got] == list(range(n))
        assert [g["blob"] for g in got] == blobs
        assert all(g["parts"] == [b"\x00\xff", {"x": b"abc"}] for g in got)
    for c in cs:
        await c.close()


async def test_msgpack_text_and_binary(server_factory):
    served = await server_factory(serializer="msgpack")
    cs = await collectors(served, 3, serializer="msgpack")
    n = 100
    for i in range(n):
        await served.sio.emit("bcast", {"seq": i, "s": "ü" * i,
                                        "blob": bytes(range(i % 256))},
                              room=ROOM)
    for c in cs:
        got = await c.wait_for(n)
        assert [g["seq"] for g in got] == list(range(n))
        assert all(g["s"] == "ü" * g["seq"] for g in got)
        assert all(g["blob"] == bytes(range(g["seq"] % 256)) for g in got)
    pub = socketio.AsyncClient(serializer="msgpack", reconnection=False)
    await pub.connect(served.url, transports=["websocket"],
                      auth={"role": "publisher"}, wait_timeout=5)
    assert await pub.call("echo", {"b": b"\x01\x02"}, timeout=5) == {"b": b"\x01\x02"}
    await pub.disconnect()
    for c in cs:
        await c.close()


async def test_acks_both_directions_and_order_with_unicast(server_factory):
    served = await server_factory()
    c = Collector()
    order = []

    @c.client.on("direct")
    async def direct(payload):
        order.append(("d", payload["seq"]))
        return {"thanks": payload["seq"]}

    c.client.on("bcast", lambda p: order.append(("b", p["seq"])))
    await c.connect(served.url)
    await eventually(lambda: holds(served.connected))
    sid = served.connected[0]
    # client -> server acks (the ack travels back through the fast writer)
    assert await c.client.call("echo", {"a": 1}, timeout=5) == {"a": 1}
    assert await c.client.call("echo", (1, b"\x07"), timeout=5) == (1, b"\x07")
    # server -> client acks (stock path: per-recipient ack ids), interleaved
    # with broadcasts: everything arrives in emission order
    acks = []
    for i in range(40):
        await served.sio.emit("direct", {"seq": i}, to=sid,
                              callback=lambda r: acks.append(r))
        await served.sio.emit("bcast", {"seq": i}, room=ROOM)
    await eventually(lambda: holds(len(acks) == 40 and len(order) == 80))
    assert order == [x for i in range(40) for x in (("d", i), ("b", i))]
    assert sorted(a["thanks"] for a in acks) == list(range(40))
    assert await served.sio.call("direct", {"seq": 99}, to=sid, timeout=5) == {"thanks": 99}
    await c.close()


async def test_skip_sid_and_unicast(server_factory):
    served = await server_factory()
    cs = await collectors(served, 3)
    sids = list(served.connected)
    await served.sio.emit("bcast", {"seq": 0}, room=ROOM, skip_sid=sids[0])
    await served.sio.emit("bcast", {"seq": 1}, to=sids[1])
    await served.sio.emit("bcast", {"seq": 2})  # everybody in "/"
    await cs[2].wait_for(2)
    await cs[1].wait_for(3)
    await cs[0].wait_for(1)
    # A probe to everybody: once a client has it, whatever was sent to it before has arrived too.
    await served.sio.emit("bcast", {"seq": "probe"})
    for c in cs:
        await eventually(lambda c=c: holds(c.events[-1:] == [{"seq": "probe"}], c.events))
    by_sid = {}
    for c in cs:
        by_sid[c.client.get_sid()] = [e["seq"] for e in c.events[:-1]]
    assert by_sid[sids[0]] == [2]
    assert by_sid[sids[1]] == [0, 1, 2]
    assert by_sid[sids[2]] == [0, 2]
    for c in cs:
        await c.close()


# ------------------------------------------------------- polling / upgrade

async def test_polling_client_receives_broadcasts(server_factory):
    served = await server_factory()
    ws_clients = await collectors(served, 2)
    poller = await Collector().connect(served.url, transports=("polling",))
    await eventually(lambda: holds(len(served.connected) == 3))
    n = 30
    for i in range(n):
        await served.sio.emit("bcast", {"seq": i, "b": bytes([i])}, room=ROOM)
        # python-engineio's *client* refuses a polling payload of more than
        # 16 packets (Payload.max_decode_packets) and the server does not cap
        # what one poll returns, so pace the sender to the poller
        await eventually(lambda: holds(len(poller.events) > i))
    for c in ws_clients + [poller]:
        got = await c.wait_for(n)
        assert got == [{"seq": i, "b": bytes([i])} for i in range(n)]
    assert poller.client.transport() == "polling"
    st = served.fb.stats()
    assert st["queued_writes"] == n and st["direct_writes"] == 2 * n
    # a client-side disconnect of a polling AsyncClient waits ~30 s for its
    # pending long-poll (stock behaviour); ending it from the server is quick
    await served.sio.disconnect(poller.client.get_sid())
    await eventually(lambda: holds(not poller.client.connected))
    for c in ws_clients:
        await c.close()


async def test_upgrading_client_gets_everything_in_order(server_factory):
    """A client that starts on polling and upgrades to websocket while
    broadcasts are flowing misses nothing and sees no reordering."""
    served = await server_factory()
    stop = asyncio.Event()
    seq = 0

    async def pump():
        nonlocal seq
        while not stop.is_set():
            await served.sio.emit("bcast", {"seq": seq}, room=ROOM)
            seq += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(pump())
    c = await Collector().connect(served.url, transports=("polling", "websocket"))
    await eventually(lambda: holds(c.client.transport() == "websocket"))
    upgraded_at = len(c.events)
    await eventually(lambda: holds(len(c.events) >= upgraded_at + 100))  # broadcasts flow over the websocket
    stop.set()
    await task
    assert c.events, "nothing received"
    await eventually(lambda: holds(c.events[-1] == {"seq": seq - 1}, c.events[-1]))  # the last one sent arrived
    got = [e["seq"] for e in c.events]
    assert got == list(range(got[0], seq))
    await c.close()


# --------------------------------------------------------- slow consumers

async def _stalled_ws_client(port: int) -> socket.socket:
    """Connect over websocket, complete the Socket.IO CONNECT, then never
    read again. A tiny receive buffer makes the kernel stop acking early."""
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await loop.sock_connect(s, ("127.0.0.1", port))
    await loop.sock_sendall(s, (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    ).encode())
    buf = b""
    while b'0{"sid"' not in buf:
        buf += await loop.sock_recv(s, 4096)
    payload = b"40"
    await loop.sock_sendall(s, bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
    while b'40{"sid"' not in buf:
        buf += await loop.sock_recv(s, 4096)
    return s


async def test_non_reading_client_is_disconnected_others_continue(server_factory):
    limit = 256 * 1024
    served = await server_factory(max_pending_bytes=limit)
    cs = await collectors(served, 3)
    stalled = await _stalled_ws_client(served.port)
    await eventually(lambda: holds(len(served.connected) == 4))
    stalled_sid = served.connected[-1]
    eio_sid = served.sio.manager.eio_sid_from_sid(stalled_sid, "/")
    fb = served.fb

    blob = "x" * (32 * 1024)
    n = 400  # 12.8 MB: far more than kernel buffers + the limit
    max_pending = 0
    for i in range(n):
        await served.sio.emit("bcast", {"seq": i, "blob": blob}, room=ROOM)
        p = fb.pending_bytes(eio_sid)
        if p is not None:
            max_pending = max(max_pending, p)
        # let the (same-loop) healthy clients read what they were sent
        await eventually(lambda: holds(all(len(c.events) > i for c in cs)))

    await asyncio.wait_for(served.disconnected.wait(), 5)
    assert served.disconnects == {stalled_sid: broadcast.SLOW_CONSUMER}
    assert fb.stats()["evictions"] == 1
    # the buffer never grew past the limit plus the one frame that crossed it
    assert max_pending <= limit + len(blob) + 64
    assert fb.pending_bytes(eio_sid) is None  # connection is gone
    for c in cs:
        assert [e["seq"] for e in c.events] == list(range(n))
        assert c.client.connected
    stalled.close()
    for c in cs:
        await c.close()


async def test_polling_client_that_stops_polling_is_disconnected(server_factory):
    served = await server_factory(max_queued_packets=50)
    healthy = await collectors(served, 1)
    async with aiohttp.ClientSession() as http:
        base = f"{served.url}/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as r:
            text = await r.text()
        sid = json.loads(text[1:])["sid"]
        async with http.post(f"{base}&sid={sid}", data="40") as r:
            assert r.status == 200
        async with http.get(f"{base}&sid={sid}") as r:
            assert (await r.text()).startswith("40")
        await eventually(lambda: holds(len(served.connected) == 2))
        stalled_sid = served.connected[-1]
        # ...and never polls again
        for i in range(120):
            await served.sio.emit("bcast", {"seq": i}, room=ROOM)
        await asyncio.wait_for(served.disconnected.wait(), 5)
        assert served.disconnects == {stalled_sid: broadcast.SLOW_CONSUMER}
        assert [e["seq"] for e in await healthy[0].wait_for(120)] == list(range(120))
    await healthy[0].close()


# ------------------------------------------------ official Node client

def _node(cfg: dict, node_modules: Path) -> subprocess.Popen:
    env = dict(os.environ, NODE_PATH=str(node_modules))
    return subprocess.Popen(["node", str(HERE / "official_client.js"), json.dumps(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)


async def _readline(proc: subprocess.Popen, timeout: float = 20.0) -> dict:
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)
    if not line:
        raise AssertionError(f"node client died: {proc.stderr.read()}")
    return json.loads(line)


@pytest.mark.parametrize("parser,transports", [
    ("json", ["websocket"]),
    ("msgpack", ["websocket"]),
    ("json", ["polling", "websocket"]),
])
async def test_official_node_client(server_factory, node_modules, parser, transports):
    served = await server_factory(serializer="msgpack" if parser == "msgpack" else "default")
    n = 50
    procs = [_node({"url": served.url, "parser": parser, "transports": transports,
                    "expect": n}, node_modules) for _ in range(2)]
    try:
        for p in procs:
            ready = await _readline(p)
            assert ready.get("ready"), ready
            assert ready["ack"] == {"hello": "world", "bin": {"hex": "010203"}}
        if transports != ["websocket"]:
            # let the upgrade settle; broadcasts work either way
            await asyncio.sleep(0.3)
        for i in range(n):
            await served.sio.emit("bcast", {"seq": i, "blob": bytes([i, 255 - i]),
                                            "t": "ß" * i}, room=ROOM)
        for p in procs:
            out = await _readline(p)
            assert "events" in out, out
            assert out["events"] == [{"seq": i, "blob": {"hex": bytes([i, 255 - i]).hex()},
                                      "t": "ß" * i} for i in range(n)]
            assert out["transport"] == "websocket"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()


def test_fast_python_bench_server_with_official_client(node_modules, tmp_path):
    """The uvloop benchmark server (fast path installed) against the official
    client, in separate processes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen([sys.executable, str(FANOUT / "fast_python.py"), "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert json.loads(srv.stdout.readline())["ready"]
        env = dict(os.environ, NODE_PATH=str(node_modules))
        script = tmp_path / "pub.js"
        script.write_text("""
const { io } = require("socket.io-client");
const url = process.argv[2];
const sub = io(url, { transports: ["websocket"], reconnection: false });
const got = [];
sub.on("bench", (p) => got.push(p.seq));
sub.on("connect", () => {
  const pub = io(url, { transports: ["websocket"], reconnection: false, auth: { role: "publisher" } });
  pub.on("connect", async () => {
    const acks = [];
    for (let i = 0; i < 20; i++) acks.push(await pub.timeout(5000).emitWithAck("publish", { seq: i }));
    setTimeout(() => { console.log(JSON.stringify({ got, acks })); process.exit(0); }, 200);
  });
});
setTimeout(() => { console.log(JSON.stringify({ error: "timeout", got })); process.exit(2); }, 15000);
""")
        out = subprocess.run(["node", str(script), f"http://127.0.0.1:{port}"], env=env,
                             capture_output=True, text=True, timeout=30)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert res.get("got") == list(range(20)), res
        assert res["acks"] == [1] * 20
    finally:
        srv.terminate()
        srv.wait(10)
        srv.stdout.close()
        srv.stderr.close()


# ------------------------------------------------------------ wire frames

def test_frame_lengths():
    for n in (0, 1, 125, 126, 65535, 65536, 70000):
        f = frame_message("a" * n)
        assert f[0] == 0x81
        if n < 126:
            assert f[1] == n and len(f) == n + 2
        elif n < 65536:
            assert f[1] == 126 and int.from_bytes(f[2:4], "big") == n
        else:
            assert f[1] == 127 and int.from_bytes(f[2:10], "big") == n
    assert frame_message(b"\x00\x01")[:2] == b"\x82\x02"
    assert frame_message("é")[1] == 2  # length counts UTF-8 bytes


# ------------------------------------------------------------- heartbeat

@pytest.mark.slow
async def test_heartbeat_keeps_live_clients_and_drops_silent_ones(server_factory):
    """Lean sockets get their Engine.IO pings from one shared task: a client
    that answers stays connected across many intervals, one that never
    answers is dropped with reason "ping timeout"."""
    # (engineio announces whole seconds to clients, so no sub-second values)
    served = await server_factory(ping_interval=1, ping_timeout=1)
    live = await collectors(served, 1)
    silent = await _stalled_ws_client(served.port)  # never reads, never pongs
    await eventually(lambda: holds(len(served.connected) == 2))
    silent_sid = served.connected[-1]
    await asyncio.wait_for(served.disconnected.wait(), 5)
    assert served.disconnects == {silent_sid: "ping timeout"}
    await asyncio.sleep(3.5)  # several more ping rounds
    assert live[0].client.connected
    assert served.disconnects == {silent_sid: "ping timeout"}
    await served.sio.emit("bcast", {"seq": 1}, room=ROOM)
    assert await live[0].wait_for(1) == [{"seq": 1}]
    silent.close()
    await live[0].close()


async def test_server_side_disconnect_closes_the_websocket(server_factory):
    served = await server_factory()
    c = await Collector().connect(served.url)
    await eventually(lambda: holds(served.connected))
    await served.sio.disconnect(served.connected[0])
    await eventually(lambda: holds(not c.client.connected))
    await eventually(lambda: holds(served.fb.stats()["websocket_connections"] == 0))


async def test_custom_namespace_and_uninstall(server_factory):
    served = await server_factory()
    sio = served.sio
    got = []

    @sio.on("connect", namespace="/chat")
    async def chat_connect(sid, environ, auth):
        await sio.enter_room(sid, "c1", namespace="/chat")

    client = socketio.AsyncClient(reconnection=False)
    client.on("bcast", lambda p: got.append(p), namespace="/chat")
    await client.connect(served.url, transports=["websocket"], namespaces=["/", "/chat"],
                         wait_timeout=5)
    await eventually(lambda: holds("c1" in sio.manager.rooms.get("/chat", {})))
    await sio.emit("bcast", {"seq": 0}, room="c1", namespace="/chat")
    await sio.emit("bcast", {"seq": -1}, room=ROOM)  # "/" namespace: not this handler
    await eventually(lambda: holds(got == [{"seq": 0}]))
    before = served.fb.stats()["broadcasts"]
    served.fb.uninstall()
    assert broadcast.get(sio) is None
    await sio.emit("bcast", {"seq": 1}, room="c1", namespace="/chat")  # stock path
    await eventually(lambda: holds(got == [{"seq": 0}, {"seq": 1}]))
    assert served.fb.stats()["broadcasts"] == before
    await client.disconnect()


# ------------------------------------------------------ pub/sub managers

class MemoryPubSub(AsyncPubSubManager):
    """A real AsyncPubSubManager whose "message queue" is in-process: every
    manager on the same bus receives every published message (as the Redis /
    runtime-bus managers do across processes)."""

    name = "memory"

    def __init__(self, bus: list) -> None:
        super().__init__(channel="test")
        self.inbox: asyncio.Queue = asyncio.Queue()
        bus.append(self.inbox)
        self.bus = bus

    async def _publish(self, data):
        for q in self.bus:
            q.put_nowait(json.loads(json.dumps(data)))

    async def _listen(self):
        while True:
            yield await self.inbox.get()


async def test_pubsub_manager_local_delivery_on_both_hosts(server_factory):
    """Two servers ("hosts") sharing a pub/sub bus: an emit on one reaches the
    clients of both, each host delivering locally through the fast path;
    binary data and ignore_queue emits too."""
    bus: list = []
    a = await server_factory(client_manager=MemoryPubSub(bus))
    b = await server_factory(client_manager=MemoryPubSub(bus))
    ca = await collectors(a, 2)
    cb = await collectors(b, 2)
    n = 50
    for i in range(n):
        await a.sio.emit("bcast", {"seq": i, "b": bytes([i])}, room=ROOM)
    for c in ca + cb:
        got = await c.wait_for(n)
        assert got == [{"seq": i, "b": bytes([i])} for i in range(n)]
    assert a.fb.stats()["direct_writes"] == 2 * n
    assert b.fb.stats()["direct_writes"] == 2 * n
    # ignore_queue: this host only
    await b.sio.emit("bcast", {"seq": "local"}, room=ROOM, ignore_queue=True)
    for c in cb:
        await c.wait_for(n + 1)
        assert c.events[-1] == {"seq": "local"}
    # A probe from b through the bus: a's clients get it after anything b had put on the bus before.
    await b.sio.emit("bcast", {"seq": "probe"}, room=ROOM)
    for c in ca + cb:
        await eventually(lambda c=c: holds(c.events[-1:] == [{"seq": "probe"}], c.events[-1:]))
    assert all(len(c.events) == n + 1 for c in ca)
    # the publisher side's acks still work through a pub/sub host
    pub = socketio.AsyncClient(reconnection=False)
    await pub.connect(b.url, transports=["websocket"], auth={"role": "publisher"},
                      wait_timeout=5)
    assert (await pub.call("publish", {"seq": "via-b"}, timeout=5))["ok"]
    for c in ca + cb:
        await eventually(lambda c=c: holds(c.events[-1] == {"seq": "via-b"}))
    await pub.disconnect()
    for c in ca + cb:
        await c.close()
    for s in (a, b):
        s.sio.manager.thread.cancel()


async def test_direct_route_rejections_and_passthrough(server_factory):
    """The direct-connect middleware leaves everything else to engineio:
    a connect handler refusing the connection, a bad EIO version, other
    paths of the app."""
    served = await server_factory()
    sio = served.sio

    @sio.event
    async def connect(sid, environ, auth):
        if isinstance(auth, dict) and auth.get("deny"):
            return False
        await sio.enter_room(sid, ROOM)
        served.connected.append(sid)

    bad = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await bad.connect(served.url, transports=["websocket"], auth={"deny": True},
                          wait_timeout=5)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served.url}/socket.io/?EIO=3&transport=websocket",
                            headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                     "Sec-WebSocket-Version": "13"}) as r:
            assert r.status == 400
        async with http.get(f"{served.url}/elsewhere") as r:
            assert r.status == 404
    ok = await Collector().connect(served.url)
    await eventually(lambda: holds(served.connected))
    await sio.emit("bcast", {"seq": 1}, room=ROOM)
    assert await ok.wait_for(1) == [{"seq": 1}]
    await ok.close()


async def test_direct_route_environ_matches_engineio(server_factory):
    """The environ the connect handler sees is the one engineio's driver
    would have built."""
    from engineio.async_drivers.aiohttp import translate_request
    from channels.broadcast import _translate_request
    served = await server_factory()
    seen = {}

    @served.sio.event
    async def connect(sid, environ, auth):
        req = environ["aiohttp.request"]
        seen["ours"] = dict(environ)
        seen["stock"] = translate_request(req)
        served.connected.append(sid)

    c = await Collector().connect(served.url)
    await eventually(lambda: holds(served.connected))
    ours, stock = seen["ours"], seen["stock"]
    assert ours.keys() == stock.keys()
    assert {k: v for k, v in ours.items() if k != "wsgi.input"} == \
        {k: v for k, v in stock.items() if k != "wsgi.input"}
    assert _translate_request is not translate_request
    await c.close()
