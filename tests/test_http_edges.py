"""The edges of HTTP: upgrade headers, aiohttp's own error answers, the Server banner, and who may read /metrics.

Every answer, wherever it comes from, is in the error shape, names no versions,
and goes through the one middleware (request id, metrics, access log).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import re
import socket
import uuid

import pytest
from aiohttp import web

from .conftest import signed_up
from .support.redis import free_port
from .support.tools import require

pytestmark = pytest.mark.quick

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
METRICS_TOKEN = "metrics-token-" + "m" * 32
_VERSIONED = re.compile(r"aiohttp|python|\d+\.\d+", re.IGNORECASE)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path).replace("{path:.*}", "x")


def _rest_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route that answers requests: all but the Socket.IO endpoints."""
    out = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or path.startswith(("/socket.io", "/socket.io-msgpack")):
            continue
        out.append((route.method, _concrete(path)))
    return sorted(set(out))


# The OAuth endpoints answer errors in the shape RFC 6749 5.2 fixes, which OAuth clients parse (docs/apps.md).
OAUTH_ENDPOINTS = frozenset(f"/api/v1/oauth/{name}" for name in ("token", "revoke", "introspect"))


def _assert_error_shape(status: int, content_type: str | None, raw: bytes, *, oauth: bool = False) -> None:
    assert content_type is not None and content_type.startswith("application/json"), (status, content_type, raw[:200])
    body = json.loads(raw)
    if oauth:
        assert set(body) <= {"error", "error_description"} and isinstance(body["error"], str), body
        return
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body


async def test_an_upgrade_header_on_any_rest_route_changes_nothing(app, clients):
    c = await signed_up(clients(app.url))
    routes = _rest_routes(app.app)
    assert ("GET", "/api/v1/me") in routes and len(routes) > 30
    for method, path in routes:
        resp = await c.raw(method, path, headers=UPGRADE)
        assert resp.status < 500, (method, path, resp.status, resp.raw[:200])
        assert "X-Request-ID" in resp.headers, (method, path)
        if resp.status >= 400:
            _assert_error_shape(resp.status, resp.headers.get("Content-Type"), resp.raw, oauth=path in OAUTH_ENDPOINTS)
    signed_out = await clients(app.url).raw("GET", "/api/v1/me", headers=UPGRADE)
    missing = await clients(app.url).raw("GET", "/api/v1/no-such-route", headers=UPGRADE)
    assert (signed_out.status, signed_out.body["error"]["code"]) == (401, "missing_token")
    assert (missing.status, missing.body["error"]["code"]) == (404, "not_found")
    metrics = (await clients(app.url).raw("GET", "/metrics")).raw.decode()
    assert 'klear_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1.0' in metrics
    assert "Traceback" not in app.log_text() and '"traceback"' not in app.log_text()


async def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; return the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        if "Content-Length" in headers:
            body = await reader.readexactly(int(headers["Content-Length"]))
        else:
            body = b""
        return int(lines[0].split()[1]), headers, body
    finally:
        writer.close()


@pytest.mark.parametrize(("request_bytes", "code"), [
    (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "request_too_long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", "request_too_long"),
    (b"BR\x01EW / HTTP/1.1\r\nHost: x\r\n\r\n", "bad_method"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", "bad_request"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", None),
    (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", "bad_request"),
])
async def test_requests_aiohttp_cannot_parse_get_our_error_shape(app, request_bytes, code):
    status, headers, body = await _exchange(app.port, request_bytes)
    assert status == 400
    _assert_error_shape(status, headers.get("Content-Type"), body)
    if code is not None:
        assert json.loads(body)["error"]["code"] == code
    assert headers.get("Server") == "klear"
    for line in app.log_text().splitlines():
        assert "traceback" not in json.loads(line)


async def test_no_response_names_server_versions(app, clients):
    c = await signed_up(clients(app.url))
    answers = [
        await c.raw("GET", "/healthz"),
        await c.raw("GET", "/api/v1/me"),
        await clients(app.url).raw("GET", "/api/v1/me"),
        await c.raw("GET", "/no/such/route"),
        await c.raw("GET", "/app/"),
        await c.raw("GET", "/app/js/api.js"),
        await c.raw("GET", "/metrics"),
        await c.raw("GET", "/socket.io/?EIO=4&transport=polling"),
    ]
    assert [a.status for a in answers] == [200, 200, 401, 404, 200, 200, 200, 200]
    upgrade = ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in UPGRADE.items()) + "\r\n").encode()
    status, headers, _ = await _exchange(app.port, upgrade)
    assert status == 101
    for h in [a.headers for a in answers] + [headers]:
        assert h.get("Server") == "klear" and not _VERSIONED.search(h["Server"]), h


async def test_metrics_want_the_token_when_one_is_set(start_app, clients):
    app = await start_app(KLEAR_METRICS_TOKEN=METRICS_TOKEN)
    c = clients(app.url)
    missing = await c.raw("GET", "/metrics")
    wrong = await c.raw("GET", "/metrics", headers={"Authorization": "Bearer " + "x" * 46})
    right = await c.raw("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert (missing.status, missing.body["error"]["code"]) == (401, "missing_token")
    assert (wrong.status, wrong.body["error"]["code"]) == (401, "token_invalid")
    assert right.status == 200 and b"klear_http_requests_total" in right.raw


async def test_metrics_can_live_on_an_address_of_their_own(start_app, clients):
    port = free_port()
    app = await start_app(KLEAR_METRICS_ADDRESS=f"127.0.0.1:{port}")
    c = clients(app.url)
    await c.raw("GET", "/healthz")
    on_api = await c.raw("GET", "/metrics")
    apart = await c.raw("GET", f"http://127.0.0.1:{port}/metrics")
    assert (on_api.status, on_api.body["error"]["code"]) == (404, "not_found")
    assert apart.status == 200 and apart.headers["Server"] == "klear"
    assert 'klear_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in apart.raw.decode()
    doc = (await c.raw("GET", "/api/v1/openapi.json")).body
    assert "/metrics" not in doc["paths"]


def _non_loopback_address() -> str | None:
    """An address of this machine other than loopback (found by routing a UDP socket; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only consults the routing table
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


async def test_metrics_without_a_token_answer_loopback_clients_only(app, clients):
    address = _non_loopback_address()
    if address is None:
        require(["a non-loopback address"], "connecting to /metrics from off loopback")
    port = await app.also_listen(address)
    c = clients(app.url)
    remote = await c.raw("GET", f"http://{address}:{port}/metrics")
    health = await c.raw("GET", f"http://{address}:{port}/healthz")
    local = await c.raw("GET", "/metrics")
    assert (remote.status, remote.body["error"]["code"]) == (403, "forbidden")
    assert health.status == 200 and local.status == 200
