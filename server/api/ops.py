"""Operations endpoints: liveness, readiness, metrics, and the API's own documentation."""

from __future__ import annotations

import asyncio
import json
from importlib import resources

from aiohttp import web

from ..errors import ApiError, error_response
from ..routing import RUNTIME

OPENAPI: web.AppKey[bytes] = web.AppKey("openapi", bytes)


async def healthz(request: web.Request) -> web.Response:
    """Answers while the process is alive; checks nothing else."""
    return web.json_response({"status": "ok"})


async def _redis_ok(request: web.Request) -> bool:
    redis = request.app[RUNTIME].redis
    if redis is None:
        return True
    try:
        async with asyncio.timeout(1.0):
            await redis.ping()
        return True
    except Exception:  # a readiness probe reports failure, it does not raise
        return False


async def readyz(request: web.Request) -> web.Response:
    """200 when PostgreSQL (and Redis, when configured) answer; 503 with the failing checks otherwise."""
    rt = request.app[RUNTIME]
    pg, redis = await asyncio.gather(rt.db.ping(), _redis_ok(request))
    checks = {"postgres": pg} | ({"redis": redis} if rt.redis is not None else {})
    if all(checks.values()):
        return web.json_response({"status": "ready", "checks": {k: "ok" for k in checks}})
    return error_response(ApiError(
        "Not ready: a dependency is not answering.",
        code="not_ready",
        status=503,
        details=[{"check": name, "status": "ok" if ok else "down"} for name, ok in checks.items()],
    ))


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    body = request.app[RUNTIME].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def docs(request: web.Request) -> web.Response:
    page = resources.files("server").joinpath("static/docs.html").read_bytes()
    return web.Response(body=page, content_type="text/html")


def install(app: web.Application, document: dict[str, object]) -> None:
    app[OPENAPI] = json.dumps(document, separators=(",", ":")).encode()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/docs", docs)


def documented_paths() -> dict[str, object]:
    """OpenAPI entries for the routes above, which are not RouteTable routes."""
    def op(op_id: str, summary: str, content: str, extra: dict[str, object] | None = None) -> dict[str, object]:
        responses: dict[str, object] = {"200": {"description": "OK", "content": {content: {"schema": {"type": "object"} if "json" in content else {"type": "string"}}}}}
        responses.update(extra or {})
        return {"get": {"operationId": op_id, "summary": summary, "tags": ["operations"], "responses": responses}}

    not_ready = {"503": {"description": "A dependency is down.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
    return {
        "/healthz": op("healthz", "Liveness: answers while the process is alive.", "application/json"),
        "/readyz": op("readyz", "Readiness: PostgreSQL and Redis answer.", "application/json", not_ready),
        "/metrics": op("metrics", "Prometheus metrics of this process.", "text/plain"),
        "/api/v1/openapi.json": op("openapi", "This document.", "application/json"),
        "/api/v1/docs": op("docs", "Human-readable API documentation.", "text/html"),
    }
