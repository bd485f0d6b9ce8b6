"""aiohttp's own error answers, in the documented error shape.

Some requests never reach the app: the HTTP parser refuses them (an over-long
request line or header, an unknown method, a malformed header or chunk), and
aiohttp answers from its connection protocol, `RequestHandler.handle_error`,
as plain text. aiohttp 3.14 has no setting for that answer; the protocol class
is picked by `web.Server.__call__`. So `JsonErrorRunner` (the runner
`klear serve` and the tests use) makes its server build `_JsonErrorProtocol`,
which answers those with `{"error": {...}}`, names no versions, and logs one
JSON line without a traceback. Pinned by tests/test_http_edges.py, so an aiohttp
upgrade that moves the hook fails there rather than in production.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_request import BaseRequest

from .banner import SERVER_HEADER
from .errors import ApiError, error_response

log = logging.getLogger("klear.http")
errlog = logging.getLogger("klear.errors")


def _refusal(status: int, exc: BaseException | None) -> ApiError:
    if status >= 500:
        return ApiError("Something went wrong on our side.", code="internal_error", status=status)
    if isinstance(exc, LineTooLong):
        return ApiError("The request line or a header is longer than the server accepts.", code="request_too_long", status=status)
    if isinstance(exc, BadHttpMethod):
        return ApiError("Unknown HTTP method.", code="bad_method", status=status)
    return ApiError("The request could not be read as HTTP.", code="bad_request", status=status)


class _JsonErrorProtocol(web.RequestHandler):
    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None,
    ) -> web.StreamResponse:
        """Our error body for what aiohttp would answer in plain text; the connection still closes."""
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already being sent; it cannot be replaced by an error")
        refusal = _refusal(status, exc)
        if status >= 500:  # a bug: worth its traceback (inside the JSON line)
            errlog.error("unhandled error outside the app", exc_info=exc)
        else:
            log.info("request refused by the HTTP parser",
                     extra={"event": "bad_http", "status": status, "code": refusal.code,
                            "error_type": type(exc).__name__ if exc else None})
        response = error_response(refusal)
        response.headers["Server"] = SERVER_HEADER
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _JsonErrorProtocol(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """An `AppRunner` whose connections answer parser errors in our error shape."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        return server
