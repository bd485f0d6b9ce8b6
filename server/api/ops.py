"""Operations endpoints: liveness, readiness, metrics, and the API's own documentation."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from importlib import resources

from aiohttp import web

from storage.settings import Secret

from ..errors import ApiError, Forbidden, Unauthorized, error_response
from ..metrics import Metrics
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


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def check_scraper(request: web.Request, token: Secret | None, *, open_to_all: bool) -> None:
    """Metrics name routes, volumes and internals: only the scraper the settings allow may read them.

    With a token, the request must carry it as a Bearer token. Without one, the
    listener must be the dedicated metrics address (`open_to_all`), whose network
    is the operator's choice, or the peer must be on loopback.
    """
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized("Send the metrics token: Authorization: Bearer <KLEAR_METRICS_TOKEN>.", code="missing_token")
        if not hmac.compare_digest(given.strip().encode(), token.reveal().encode()):
            raise Unauthorized("The metrics token is not valid.", code="token_invalid")
    elif not open_to_all and not _loopback(request.remote):
        raise Forbidden("Metrics answer loopback clients only; set KLEAR_METRICS_TOKEN or KLEAR_METRICS_ADDRESS.")


def render_metrics(metrics: Metrics) -> web.Response:
    """Prometheus text format."""
    return web.Response(body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def metrics(request: web.Request) -> web.Response:
    """This process's metrics, on the API port (when no separate metrics address is set)."""
    rt = request.app[RUNTIME]
    check_scraper(request, rt.settings.server.metrics_token, open_to_all=False)
    return render_metrics(rt.metrics)


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def docs(request: web.Request) -> web.Response:
    page = resources.files("server").joinpath("static/docs.html").read_bytes()
    return web.Response(body=page, content_type="text/html")


def install(app: web.Application, document: dict[str, object], *, metrics_here: bool) -> None:
    """Add the operations routes; /metrics only when it is served on the API port."""
    app[OPENAPI] = json.dumps(document, separators=(",", ":")).encode()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics_here:
        app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/docs", docs)


def documented_paths(*, metrics_here: bool) -> dict[str, object]:
    """OpenAPI entries for the routes above, which are not RouteTable routes."""
    def op(op_id: str, summary: str, content: str, extra: dict[str, object] | None = None) -> dict[str, object]:
        responses: dict[str, object] = {"200": {"description": "OK", "content": {content: {"schema": {"type": "object"} if "json" in content else {"type": "string"}}}}}
        responses.update(extra or {})
        return {"get": {"operationId": op_id, "summary": summary, "tags": ["operations"], "responses": responses}}

    def error(description: str) -> dict[str, object]:
        return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    paths: dict[str, object] = {
        "/healthz": op("healthz", "Liveness: answers while the process is alive.", "application/json"),
        "/readyz": op("readyz", "Readiness: PostgreSQL and Redis answer.", "application/json",
                      {"503": error("A dependency is down.")}),
        "/api/v1/openapi.json": op("openapi", "This document.", "application/json"),
        "/api/v1/docs": op("docs", "Human-readable API documentation.", "text/html"),
    }
    if metrics_here:
        paths["/metrics"] = op("metrics", "Prometheus metrics of this process (loopback, or the metrics token).", "text/plain",
                               {"401": error("The metrics token is required."), "403": error("Not a loopback client.")})
    return paths
