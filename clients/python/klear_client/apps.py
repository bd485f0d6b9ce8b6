"""Apps: the OAuth 2.0 helper an app uses, and the person's calls for apps and personal access tokens.

An app (a practice-management tool, a calendar, a reminder service) uses
`OAuthApp`: build the authorization URL with PKCE, exchange the code, refresh,
act for its owner with client credentials, revoke and introspect. The person
uses the `AppsMixin` calls of `KlearClient`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import aiohttp


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE code verifier and its S256 code challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 5.2): `error` is the RFC's name for it (invalid_grant, ...)."""

    def __init__(self, status: int, error: str, description: str | None) -> None:
        super().__init__(f"{status} {error}: {description or ''}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class AppTokens:
    """What the token endpoint answered: the access token, its scopes, and the next refresh token if any."""

    access_token: str
    expires_in: int
    scope: list[str]
    refresh_token: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> AppTokens:
        return cls(body["access_token"], body["expires_in"], body["scope"].split(), body.get("refresh_token"))


class OAuthApp:
    """An app's side of OAuth 2.0 against one Klear Karma server."""

    def __init__(self, base_url: str, client_id: str, client_secret: str | None = None, *,
                 http: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._http = http

    def authorization_url(self, redirect_uri: str, scopes: list[str], state: str, code_challenge: str) -> str:
        """Where to send the person's browser: the consent screen of the web app."""
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": " ".join(scopes), "state": state, "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        })
        return f"{self.base_url}/app/oauth/authorize?{query}"

    async def _post(self, endpoint: str, form: dict[str, str]) -> Any:
        headers = {}
        if self.client_secret:
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")  # RFC 6749 2.3.1
        else:
            form = {**form, "client_id": self.client_id}
        async with self._http.post(f"{self.base_url}/api/v1/oauth/{endpoint}", data=form, headers=headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            if resp.status >= 400:
                body = body or {}
                raise OAuthError(resp.status, body.get("error", "http_error"), body.get("error_description"))
            return body

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> AppTokens:
        return AppTokens.from_body(await self._post("token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }))

    async def refresh(self, refresh_token: str, scopes: list[str] | None = None) -> AppTokens:
        """Spend a refresh token (single use) for new tokens, optionally narrowing the scopes."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scopes:
            form["scope"] = " ".join(scopes)
        return AppTokens.from_body(await self._post("token", form))

    async def client_credentials(self, scopes: list[str] | None = None) -> AppTokens:
        """A token for the app's owner (confidential apps only)."""
        form = {"grant_type": "client_credentials"}
        if scopes:
            form["scope"] = " ".join(scopes)
        return AppTokens.from_body(await self._post("token", form))

    async def revoke(self, token: str) -> None:
        """End the grant behind an access or refresh token of this app (RFC 7009)."""
        await self._post("revoke", {"token": token})

    async def introspect(self, token: str) -> dict[str, Any]:
        """Whether a token of this app is active, and its scopes (RFC 7662)."""
        result: dict[str, Any] = await self._post("introspect", {"token": token})
        return result


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


class AppsMixin:
    """The person's calls: register apps, answer a consent request, connected apps, personal access tokens."""

    async def create_app(self: _Caller, name: str, redirect_uris: list[str], **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", "/apps", json_body={"name": name, "redirect_uris": redirect_uris, **options})
        return result

    async def apps(self: _Caller) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", "/apps"))["items"]
        return result

    async def delete_app(self: _Caller, app_id: str) -> None:
        await self.call("DELETE", f"/apps/{app_id}")

    async def authorization_request(self: _Caller, params: dict[str, str]) -> dict[str, Any]:
        """What the consent screen shows for an authorization request's query parameters."""
        result: dict[str, Any] = await self.call("GET", "/oauth/authorize", params=params)
        return result

    async def answer_authorization(self: _Caller, params: dict[str, str], *, allow: bool) -> str:
        """Allow or deny an app's request; returns where the browser goes next (the app's redirect URI)."""
        body = await self.call("POST", "/oauth/authorize", json_body={**params, "decision": "allow" if allow else "deny"})
        return str(body["redirect_to"])

    async def connected_apps(self: _Caller) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", "/me/apps"))["items"]
        return result

    async def disconnect_app(self: _Caller, app_id: str) -> None:
        await self.call("DELETE", f"/me/apps/{app_id}")

    async def create_token(self: _Caller, name: str, scopes: list[str], expires_in_days: int | None = None) -> dict[str, Any]:
        """A personal access token; its `token` is shown only in this answer."""
        body: dict[str, Any] = {"name": name, "scopes": scopes}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        result: dict[str, Any] = await self.call("POST", "/me/tokens", json_body=body)
        return result

    async def tokens(self: _Caller) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", "/me/tokens"))["items"]
        return result

    async def revoke_token(self: _Caller, token_id: str) -> None:
        await self.call("DELETE", f"/me/tokens/{token_id}")
