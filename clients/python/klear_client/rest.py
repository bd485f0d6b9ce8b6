"""REST calls: accounts and sessions, with tokens kept and refreshed for you."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .admin import AdminMixin
from .apps import AppsMixin
from .conversations import ConversationsMixin
from .discovery import DiscoveryMixin
from .errors import ApiError
from .records import RecordsMixin
from .scheduling import SchedulingMixin
from .webhooks import WebhooksMixin


@dataclass
class Session:
    """The tokens of one signed-in user."""

    access_token: str
    refresh_token: str
    user: dict[str, Any]
    expires_in: int = 0

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Session:
        return cls(body["access_token"], body["refresh_token"], body["user"], body["expires_in"])

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @classmethod
    def of_test_user(cls, made: dict[str, Any]) -> Session:
        """The session of an account from `create_test_users`."""
        user = {k: made[k] for k in ("id", "role", "display_name")}
        return cls(made["access_token"], made["refresh_token"], user, made["expires_in"])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False, default=b"")


class KlearClient(ConversationsMixin, SchedulingMixin, AdminMixin, DiscoveryMixin, AppsMixin, WebhooksMixin, RecordsMixin):
    """An async client for one server. Use `async with KlearClient(url) as c:`."""

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = session
        self._owns_http = session is None
        self.session: Session | None = None

    async def __aenter__(self) -> KlearClient:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.close()
        self._http = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def raw(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Response:
        """Send a request and return the response whatever its status (for tests and tools)."""
        hdrs = dict(headers or {})
        if auth and self.session is not None and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {self.session.access_token}"
        if json_body is not None:
            data = json.dumps(json_body)
            hdrs.setdefault("Content-Type", "application/json")
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        async with self.http.request(method, url, data=data, headers=hdrs, params=params) as resp:
            raw = await resp.read()
            body: Any = None
            if raw and resp.content_type == "application/json":
                body = json.loads(raw)
            return Response(resp.status, dict(resp.headers), body, raw)

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send an API request under /api/v1; return the JSON body or raise `ApiError`."""
        resp = await self.raw(method, f"/api/v1{path}", **kwargs)
        if resp.status >= 400:
            err = (resp.body or {}).get("error", {}) if isinstance(resp.body, dict) else {}
            raise ApiError(resp.status, err.get("code", "http_error"), err.get("message", ""), err.get("details", []), resp.headers)
        return resp.body

    async def register(self, email: str, password: str, display_name: str, role: str, time_zone: str) -> Session:
        """Create an account, then sign in to it.

        The server answers a new and an already registered address alike (202),
        so whether the account is yours shows at sign-in: if the address was
        taken, this raises `ApiError` 401 `invalid_credentials` (unless the
        password was the owner's), and the owner has been emailed.
        """
        await self.call(
            "POST", "/auth/register", auth=False,
            json_body={"email": email, "password": password, "display_name": display_name, "role": role, "time_zone": time_zone},
        )
        return await self.login(email, password)

    async def login(self, email: str, password: str, totp_code: str | None = None) -> Session:
        """Sign in; with two-factor sign-in on, also pass the app's code or a recovery code."""
        fields = {"email": email, "password": password}
        if totp_code is not None:
            fields["totp_code"] = totp_code
        body = await self.call("POST", "/auth/login", auth=False, json_body=fields)
        self.session = Session.from_body(body)
        return self.session

    async def refresh(self) -> Session:
        """Spend the current refresh token for a new pair."""
        assert self.session is not None, "sign in first"
        body = await self.call("POST", "/auth/refresh", auth=False, json_body={"refresh_token": self.session.refresh_token})
        self.session = Session.from_body(body)
        return self.session

    async def logout(self) -> None:
        assert self.session is not None, "sign in first"
        await self.call("POST", "/auth/logout", auth=False, json_body={"refresh_token": self.session.refresh_token})

    async def request_password_reset(self, email: str) -> None:
        """Ask for the reset email (the same answer whether the address has an account or not)."""
        await self.call("POST", "/auth/password-reset", auth=False, json_body={"email": email})

    async def reset_password(self, token: str, password: str) -> None:
        """Choose a new password with the emailed token (single use). Every session of the account ends."""
        await self.call("POST", "/auth/password-reset/confirm", auth=False, json_body={"token": token, "password": password})

    async def email_verification(self) -> dict[str, Any]:
        """`{verified}`: whether your email address is confirmed."""
        result: dict[str, Any] = await self.call("GET", "/me/email-verification")
        return result

    async def request_email_verification(self) -> dict[str, Any]:
        """Email a confirmation link (unless confirmed already); `{verified}` as it is now."""
        result: dict[str, Any] = await self.call("POST", "/me/email-verification")
        return result

    async def verify_email(self, token: str) -> None:
        """Confirm an address with the token from its email (no sign-in needed)."""
        await self.call("POST", "/auth/verify-email", auth=False, json_body={"token": token})

    async def two_factor_enabled(self) -> bool:
        result: dict[str, Any] = await self.call("GET", "/me/two-factor")
        return bool(result["enabled"])

    async def start_two_factor(self) -> dict[str, Any]:
        """Begin turning on two-factor sign-in: `{secret, otpauth_uri}` for an authenticator app."""
        result: dict[str, Any] = await self.call("POST", "/me/two-factor")
        return result

    async def confirm_two_factor(self, code: str) -> list[str]:
        """Turn it on with a first code; returns the recovery codes (shown this once)."""
        result: dict[str, Any] = await self.call("POST", "/me/two-factor/confirm", json_body={"code": code})
        return list(result["recovery_codes"])

    async def disable_two_factor(self, code: str) -> None:
        await self.call("POST", "/me/two-factor/disable", json_body={"code": code})

    async def me(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/me")
        return result

    async def update_me(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("PATCH", "/me", json_body=changes)
        return result

    async def user(self, user_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/users/{user_id}")
        return result
