"""Health, readiness, metrics, request ids, logs without secrets, and the OpenAPI document.

What needs no process of its own (answers, metrics, documents) runs in-process in the quick tier.
"""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from server.app import build_app
from server.config import load

from .conftest import PASSWORD, signed_up
from .support.eventually import eventually
from .support.proxy import proxy_for_postgres


@pytest.mark.quick
async def test_healthz_and_readyz_answer(app, clients):
    c = clients(app.url)
    health = await c.raw("GET", "/healthz")
    ready = await c.raw("GET", "/readyz")
    assert (health.status, health.body) == (200, {"status": "ok"})
    assert (ready.status, ready.body["checks"]) == (200, {"postgres": "ok"})


async def test_readyz_reports_redis_when_configured(start_server, clients, redis_env):
    server = await start_server(**redis_env)
    ready = await clients(server.url).raw("GET", "/readyz")
    assert ready.body["checks"] == {"postgres": "ok", "redis": "ok"}


async def test_readyz_is_503_while_the_database_is_down_and_recovers(start_server, clients, database_url):
    proxy, proxied_url = proxy_for_postgres(database_url)
    await proxy.start()
    server = await start_server(DATABASE_URL=proxied_url(proxy.port))
    c = clients(server.url)
    assert (await c.raw("GET", "/readyz")).status == 200

    await proxy.cut()
    down = await c.raw("GET", "/readyz")
    assert down.status == 503
    assert down.body["error"]["code"] == "not_ready"
    assert {"check": "postgres", "status": "down"} in down.body["error"]["details"]
    # Requests that need the database fail cleanly rather than hang or crash.
    register = await c.raw("POST", "/api/v1/auth/register", json_body={
        "email": "x@example.org", "password": PASSWORD, "display_name": "X", "role": "client", "time_zone": "UTC"})
    assert register.status == 503 and register.body["error"]["code"] == "service_unavailable"
    assert (await c.raw("GET", "/healthz")).status == 200

    await proxy.restore()

    async def ready() -> None:
        assert (await c.raw("GET", "/readyz")).status == 200

    await eventually(ready)
    await proxy.cut()


async def test_request_id_is_echoed_or_generated_and_logged(server, clients):
    c = clients(server.url)
    given = await c.raw("GET", "/healthz", headers={"X-Request-ID": "trace-abc.123"})
    generated = await c.raw("GET", "/healthz")
    hostile = await c.raw("GET", "/healthz", headers={"X-Request-ID": 'bad"id\\with{json}'})
    assert given.headers["X-Request-ID"] == "trace-abc.123"
    assert generated.headers["X-Request-ID"] and generated.headers["X-Request-ID"] != "trace-abc.123"
    assert hostile.headers["X-Request-ID"] != 'bad"id\\with{json}'

    def logged() -> None:
        ids = {e.get("request_id") for e in server.logs if e.get("msg") == "request"}
        assert {"trace-abc.123", generated.headers["X-Request-ID"], hostile.headers["X-Request-ID"]} <= ids, ids

    await eventually(logged)


async def test_logs_hold_no_password_token_or_email(server, clients):
    c = await signed_up(clients(server.url))
    await c.refresh()
    await c.me()
    await clients(server.url).raw("POST", "/api/v1/auth/login", json_body={"email": c.session.user["email"], "password": "wrong password"})
    await c.logout()
    await server.logs_flushed()
    text = server.log_text()
    assert server.logs, "the server wrote no structured logs"
    for secret in (PASSWORD, "wrong password", c.session.user["email"], c.session.access_token, c.session.refresh_token,
                   c.session.user["email"].split("@")[0]):
        assert secret not in text
    assert all(json.loads(line) for line in server.raw_logs)


@pytest.mark.quick
async def test_metrics_count_requests_by_route_and_status_and_show_the_pool(app, clients):
    c = clients(app.url)
    for _ in range(3):
        await c.raw("GET", "/healthz")
    await c.raw("GET", "/api/v1/me")
    text = (await c.raw("GET", "/metrics")).raw.decode()
    assert 'klear_http_requests_total{method="GET",route="/healthz",status="200"} 3.0' in text
    assert 'klear_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1.0' in text
    assert "klear_http_request_duration_seconds_bucket" in text
    assert "klear_db_pool_connections" in text and "klear_db_pool_in_use" in text


@pytest.mark.quick
async def test_openapi_document_covers_every_route(app, clients, server_env):
    doc = (await clients(app.url).raw("GET", "/api/v1/openapi.json")).body
    assert doc["openapi"].startswith("3.1")
    app = build_app(load(env=server_env))
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in app.router.routes()
        if isinstance(r.resource, (web.Resource,)) and r.method != "HEAD" and r.resource.canonical.startswith(("/api/v1", "/healthz", "/readyz", "/metrics"))
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes and routes <= documented
    register = doc["paths"]["/api/v1/auth/register"]["post"]
    body_schema = register["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/RegisterIn"}
    assert set(doc["components"]["schemas"]["RegisterIn"]["required"]) == {"email", "password", "display_name", "role", "time_zone"}
    assert register["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for ref in json.dumps(op).split('"$ref": "')[1:]:
                name = ref.split('"')[0].rsplit("/", 1)[-1]
                assert name in doc["components"]["schemas"], (path, name)


@pytest.mark.quick
async def test_docs_page_is_served(app, clients):
    resp = await clients(app.url).raw("GET", "/api/v1/docs")
    assert resp.status == 200 and b"openapi.json" in resp.raw and resp.headers["Content-Type"].startswith("text/html")
