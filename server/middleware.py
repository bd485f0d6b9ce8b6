"""The one request middleware: request id, error rendering, metrics and the access log.

Doing all four in one function keeps the per-request overhead to a single
coroutine frame. Errors of every origin (our handlers, storage, aiohttp's
router and body limit, bugs) leave here in the documented error shape.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from storage.errors import Refusal, Unavailable

from .errors import ApiError, ServiceUnavailable, error_response, from_http_exception
from .logs import AccessLog, request_id
from .routing import RUNTIME

errlog = logging.getLogger("klear.errors")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The only paths whose websocket upgrades outlive the request: the Socket.IO endpoints (channels/hub.py).
SOCKET_PATHS = ("/socket.io/", "/socket.io-msgpack/")


def is_socket_upgrade(request: web.Request) -> bool:
    """A websocket upgrade on a Socket.IO path; an `Upgrade` header anywhere else changes nothing."""
    return request.path.startswith(SOCKET_PATHS) and request.headers.get("Upgrade", "").lower() == "websocket"


def _route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


def make_observe(access_log: AccessLog) -> Middleware:
    """The middleware, with its request-id generator and access log."""
    prefix = os.urandom(5).hex()
    counter = itertools.count(1)

    async def observed(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("X-Request-ID")
        rid = incoming if incoming is not None and _REQUEST_ID.match(incoming) else f"{prefix}-{next(counter):x}"
        token = request_id.set(rid)
        start = time.perf_counter()
        try:
            response = await _respond(request, handler)
            if not response.prepared:
                response.headers["X-Request-ID"] = rid
            elapsed = time.perf_counter() - start
            route = _route_name(request)
            request.app[RUNTIME].metrics.observe_request(route, request.method, response.status, elapsed)
            if access_log.enabled:
                access_log.write(rid, request.method, route, response.status, elapsed * 1000)
            return response
        finally:
            request_id.reset(token)

    @web.middleware
    def observe(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        # A Socket.IO websocket lasts as long as its connection: it is not timed or logged
        # as a request, and no frame of ours stays suspended for each idle socket. Any other
        # route answers a request, upgrade header or not, so it goes through everything.
        if is_socket_upgrade(request):
            return handler(request)
        return observed(request, handler)

    return observe


async def _respond(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or the documented error body for whatever it raised."""
    try:
        return await handler(request)
    except Refusal as exc:  # every domain's refusals, and the HTTP layer's own
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(from_http_exception(exc))
    except Unavailable:
        return error_response(ServiceUnavailable("The database is unavailable; try again shortly."))
    except Exception as exc:
        errlog.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return error_response(ApiError("Something went wrong on our side.", code="internal_error", status=500))
