"""The OAuth 2.0 endpoints apps call: token (RFC 6749), revocation (RFC 7009) and introspection (RFC 7662).

They are not `RouteTable` routes because the RFCs fix their shape: form-encoded
bodies, client authentication instead of a person's token, and errors as
`{"error", "error_description"}` under the names the RFCs give them. The
authorization request itself goes through the consent screen and its JSON
routes (server/api/apps.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from authlib.oauth2.rfc6749 import errors as oauth_errors

from ..appkeys import SCHEDULER
from ..auth import oauth
from ..routing import API_PREFIX, RUNTIME

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_PATH, REVOKE_PATH, INTROSPECT_PATH = (f"{API_PREFIX}/oauth/{p}" for p in ("token", "revoke", "introspect"))


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json",
        headers={**_NO_STORE, **(headers or {})},
    )


async def _form(request: web.Request) -> dict[str, str]:
    """The form-encoded body; a parameter given twice, or another media type, is `invalid_request`."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise oauth_errors.InvalidRequestError("Send the parameters as application/x-www-form-urlencoded.")
    data = await request.post()
    repeated = sorted({k for k in data if len(data.getall(k)) > 1})
    if repeated:
        raise oauth_errors.InvalidRequestError("A parameter was given more than once.")
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    if any(_CONTROL.search(k) or _CONTROL.search(v) for k, v in form.items()):
        raise oauth_errors.InvalidRequestError("Parameters must not contain control characters.")
    return form


Step = Callable[[web.Request, oauth.App, dict[str, str]], Awaitable[web.Response]]


def _endpoint(step: Step) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        try:
            form = await _form(request)
            app = await oauth.authenticate_client(request.app[RUNTIME], form, request.headers)
            return await step(request, app, form)
        except oauth.OAuth2Error as exc:
            headers = {k: v for k, v in exc.get_headers() if k.lower() == "www-authenticate"}
            return _json(dict(exc.get_body()), exc.status_code or 400, headers)

    endpoint.__name__ = step.__name__
    return endpoint


async def token(request: web.Request, app: oauth.App, form: dict[str, str]) -> web.Response:
    now = request.app[SCHEDULER].deps.clock.now()
    return _json(await oauth.exchange(request.app[RUNTIME], app, form, now))


async def revoke(request: web.Request, app: oauth.App, form: dict[str, str]) -> web.Response:
    await oauth.revoke(request.app[RUNTIME], app, form)
    return web.Response(status=200, headers=_NO_STORE)


async def introspect(request: web.Request, app: oauth.App, form: dict[str, str]) -> web.Response:
    return _json(await oauth.introspect(request.app[RUNTIME], app, form))


def install(app: web.Application) -> None:
    app.router.add_post(TOKEN_PATH, _endpoint(token))
    app.router.add_post(REVOKE_PATH, _endpoint(revoke))
    app.router.add_post(INTROSPECT_PATH, _endpoint(introspect))


def _form_schema(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required,
            "properties": {name: {"type": "string", "description": text} for name, text in fields.items()}}


_CLIENT = {"client_id": "With client_secret, instead of HTTP Basic; a public app sends client_id alone.",
           "client_secret": "A confidential app's secret, if not sent with HTTP Basic."}
_OAUTH_ERROR = {
    "description": "An OAuth error (RFC 6749 5.2): invalid_request, invalid_client (401), invalid_grant, "
                   "unauthorized_client, unsupported_grant_type or invalid_scope.",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}}},
}


def documented_paths() -> dict[str, Any]:
    """OpenAPI entries of the three endpoints, which take forms and authenticate the app itself."""
    def op(op_id: str, summary: str, fields: dict[str, str], required: list[str], ok: dict[str, Any]) -> dict[str, Any]:
        return {"post": {
            "operationId": op_id, "summary": summary, "tags": ["oauth"], "security": [{"client": []}, {}],
            "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                "schema": _form_schema({**fields, **_CLIENT}, required)}}},
            "responses": {"200": ok, "400": _OAUTH_ERROR, "401": _OAUTH_ERROR},
        }}

    token_body = {"type": "object", "required": ["access_token", "token_type", "expires_in", "scope"], "properties": {
        "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"}, "scope": {"type": "string"},
        "refresh_token": {"type": "string", "description": "Single use; absent for client_credentials."}}}
    introspection = {"type": "object", "required": ["active"], "properties": {
        "active": {"type": "boolean"}, "client_id": {"type": "string"}, "sub": {"type": "string"},
        "scope": {"type": "string"}, "token_type": {"type": "string"}, "exp": {"type": "integer"}}}
    return {
        TOKEN_PATH: op("oauth_token", "Exchange a code, a refresh token or client credentials for tokens.", {
            "grant_type": "authorization_code, refresh_token or client_credentials.",
            "code": "authorization_code: the code from the redirect.",
            "redirect_uri": "authorization_code: the same redirect_uri as in the authorization request.",
            "code_verifier": "authorization_code: the PKCE verifier whose S256 hash was the code_challenge.",
            "refresh_token": "refresh_token: the current refresh token (each is single use).",
            "scope": "refresh_token: narrower scopes; client_credentials: the scopes wanted (default all).",
        }, ["grant_type"], {"description": "Tokens (RFC 6749 5.1).",
                            "content": {"application/json": {"schema": token_body}}}),
        REVOKE_PATH: op("oauth_revoke", "Revoke the grant behind one of the app's tokens (RFC 7009).", {
            "token": "An access or refresh token.", "token_type_hint": "access_token or refresh_token (optional).",
        }, ["token"], {"description": "Revoked, or was not a token of this app."}),
        INTROSPECT_PATH: op("oauth_introspect", "Whether one of the app's tokens is active (RFC 7662).", {
            "token": "An access or refresh token.", "token_type_hint": "access_token or refresh_token (optional).",
        }, ["token"], {"description": "The token's state.", "content": {"application/json": {"schema": introspection}}}),
    }
