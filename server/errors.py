"""API errors: the REST rendering of `storage.errors.Refusal`, and the HTTP layer's own refusals.

Every error a client sees is `{"error": {"code", "message", "details"}}` with
the matching HTTP status. Internal detail never reaches the body: unexpected
exceptions become a generic `internal_error` and are logged with the request id.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from storage.errors import Refusal


class ApiError(Refusal):
    """A refusal raised by the HTTP layer itself; may carry response headers (WWW-Authenticate, Retry-After)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, details=details)
        self.headers = headers or {}


def error_body(refusal: Refusal) -> dict[str, Any]:
    """The documented error body of a refusal."""
    return {"error": {"code": refusal.code, "message": refusal.message, "details": refusal.details}}


def error_response(refusal: Refusal) -> web.Response:
    """The one place a refusal becomes an HTTP response."""
    return web.Response(
        status=refusal.status,
        body=json.dumps(error_body(refusal), separators=(",", ":")).encode(),
        content_type="application/json",
        headers=getattr(refusal, "headers", None),
    )


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str, *, code: str = "unauthorized") -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": 'Bearer realm="klear"'})


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class InsufficientScope(ApiError):
    """An app's or a script's token lacks the scope an operation needs (RFC 6750 names the error)."""

    status, code = 403, "insufficient_scope"

    def __init__(self, needed: str | None) -> None:
        if needed is None:
            message, challenge = "Only the person themselves may do this; no app or token scope allows it.", ""
        else:
            message, challenge = f"This token lacks the scope {needed}.", f', scope="{needed}"'
        super().__init__(
            message, details=[{"scope": needed}],
            headers={"WWW-Authenticate": f'Bearer realm="klear", error="insufficient_scope"{challenge}'},
        )


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unprocessable(ApiError):
    status, code = 422, "validation_failed"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            message,
            details=[{"retry_after": seconds}],
            headers={"Retry-After": str(seconds)},
        )


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"


# HTTP statuses raised by aiohttp itself (router, body limit), mapped to our codes.
HTTP_CODES = {
    400: ("bad_request", "The request could not be read."),
    404: ("not_found", "No such route."),
    405: ("method_not_allowed", "This route does not accept that method."),
    413: ("payload_too_large", "The request body is larger than the 1 MiB limit."),
    415: ("unsupported_media_type", "Send application/json."),
}


def from_http_exception(exc: web.HTTPException) -> ApiError:
    """Our error for a status raised inside aiohttp (unknown route, wrong method, body too large)."""
    code, message = HTTP_CODES.get(exc.status, ("http_error", exc.reason))
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return ApiError(message, code=code, status=exc.status, headers=headers)


def error_schema() -> dict[str, Any]:
    """JSON Schema of the error body, for the OpenAPI document."""
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "description": "Stable machine-readable code."},
                    "message": {"type": "string", "description": "Human-readable explanation."},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    }
