"""What one client may cost a process over Socket.IO: sockets per user, connections that never authenticate,
the wrong serializer and malformed packets all get a clear, coded answer and a bounded cost."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio

from klear_client import ApiError, Realtime
from server.appkeys import RUNTIME

from ..conftest import signed_up
from ..support.eventually import eventually, holds

pytestmark = pytest.mark.quick

Engine = Callable[..., Awaitable[aiohttp.ClientWebSocketResponse]]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    """Open bare Engine.IO websockets (the OPEN packet already read); all are closed at the end."""
    http = aiohttp.ClientSession()

    async def open_engine(url: str, path: str = "socket.io") -> aiohttp.ClientWebSocketResponse:
        ws = await http.ws_connect(f"{url}/{path}/?EIO=4&transport=websocket")
        assert (await ws.receive_str(timeout=5)).startswith("0")
        return ws

    yield open_engine
    await http.close()


async def _until_closed(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> list[Any]:
    """Everything the server sends until it closes the connection (an Engine.IO CLOSE packet or the websocket)."""
    seen: list[Any] = []

    async def read() -> None:
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return
            seen.append(msg.data)
            if msg.data == "1":
                return

    await asyncio.wait_for(read(), timeout)
    return seen


async def test_a_user_cannot_open_more_sockets_than_the_cap(start_app, clients, realtime):
    app = await start_app(KLEAR_SOCKETS_PER_USER="2")
    user = await signed_up(clients(app.url))
    first = await realtime(user, reconnect=False)
    await realtime(user, reconnect=False)
    with pytest.raises(ApiError) as refused:
        await realtime(user, reconnect=False)
    assert refused.value.code == "too_many_sockets"
    other = await signed_up(clients(app.url))
    await realtime(other, reconnect=False)  # the cap is per user
    await first.close()

    async def a_slot_is_free_again() -> None:
        rt = Realtime(user, reconnect=False)
        try:
            await rt.connect()
        except ApiError as exc:
            raise AssertionError(exc.code) from None
        await rt.close()

    await eventually(a_slot_is_free_again)


@pytest.mark.slow
async def test_a_connection_that_never_authenticates_is_closed_after_the_handshake_timeout(start_app, clients, engine):
    app = await start_app(KLEAR_SOCKET_HANDSHAKE_TIMEOUT="1")
    silent = await engine(app.url)
    refused = await engine(app.url)
    await refused.send_str("40" + json.dumps({"token": "forged"}))  # refused, and never tries again
    opened = time.monotonic()
    await _until_closed(silent, timeout=5)
    assert any(str(m).startswith("44") for m in await _until_closed(refused, timeout=5))
    assert time.monotonic() - opened < 3.5
    user = await signed_up(clients(app.url))
    ws = await engine(app.url)
    await ws.send_str("40" + json.dumps({"token": user.session.access_token}))
    assert (await ws.receive_str(timeout=5)).startswith("40")
    with pytest.raises(asyncio.TimeoutError):
        await _until_closed(ws, timeout=2.5)  # an authenticated socket is not subject to the handshake timeout


async def test_pending_handshakes_are_capped_with_a_clear_error(start_app, clients, engine):
    app = await start_app(KLEAR_SOCKET_MAX_HANDSHAKES="3")
    pending = [await engine(app.url) for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as full:
        await engine(app.url)
    assert full.value.status == 401
    async with aiohttp.ClientSession() as http, http.get(f"{app.url}/socket.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "too_many_handshakes"
    user = await signed_up(clients(app.url))
    await pending[0].send_str("40" + json.dumps({"token": user.session.access_token}))
    assert (await pending[0].receive_str(timeout=5)).startswith("40")
    await engine(app.url)  # a completed handshake frees its place


@pytest.mark.parametrize(("client_serializer", "path"), [("default", "socket.io-msgpack"), ("msgpack", "socket.io")])
async def test_a_client_on_the_other_serializers_path_is_refused_at_once_with_a_reason(
    start_app, clients, client_serializer, path,
):
    app = await start_app()
    user = await signed_up(clients(app.url))
    sio = socketio.AsyncClient(reconnection=False, serializer=client_serializer)
    refusals: list[dict[str, Any]] = []
    sio.on("connect_error", refusals.append)
    started = time.monotonic()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(app.url, socketio_path=path, transports=["websocket"],
                              auth={"token": user.session.access_token}, wait_timeout=10)
    finally:
        await sio.shutdown()
    assert time.monotonic() - started < 3
    assert refusals and refusals[0]["data"]["code"] == "wrong_serializer"
    assert "connect to /socket.io" in refusals[0]["message"]  # names the path to use
    assert "Traceback" not in app.log_text() and '"traceback"' not in app.log_text()


async def test_malformed_packets_are_logged_once_each_counted_and_end_the_connection(start_app, clients, engine):
    app = await start_app(KLEAR_SOCKET_MAX_PROTOCOL_ERRORS="3")
    user = await signed_up(clients(app.url))
    ws = await engine(app.url)
    await ws.send_str("40" + json.dumps({"token": user.session.access_token}))
    assert (await ws.receive_str(timeout=5)).startswith("40")
    for bad in ('42["message:send", not json', "49", '42{"not": "a list"}'):
        await ws.send_str(bad)
    seen = await _until_closed(ws, timeout=5)
    events = [json.loads(m[2:]) for m in seen if str(m).startswith("42")]
    assert ["server:disconnect", "protocol_error"] in [[e[0], e[1].get("code")] for e in events], events

    def logged() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in app.log_text().splitlines()]
        errors = [e for e in lines if e.get("event") == "protocol_error"]
        holds(len(errors) == 3, errors)
        return lines

    lines = await eventually(logged)
    assert not [e for e in lines if "traceback" in e], "a bad packet logged a traceback"
    registry = app.app[RUNTIME].metrics.registry
    assert registry.get_sample_value("klear_socket_protocol_errors_total", {"path": "socket.io"}) == 3
