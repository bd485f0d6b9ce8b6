"""Webhooks: verifying a delivery's signature (Standard Webhooks), and the calls that manage subscriptions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

TOLERANCE = 300  # seconds a delivery's timestamp may be off from now (replays of old ones are refused)


class InvalidSignature(Exception):
    """The delivery is not signed with this secret, or is too old or from the future."""


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE) -> dict[str, Any]:
    """Check a delivery (its raw body and its headers) against the subscription's `whsec_` secret and return its
    payload. Raises `InvalidSignature`. Deduplicate on `headers["webhook-id"]`: a delivery may come twice."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not stamp or not signatures:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a number") from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise InvalidSignature("webhook-timestamp is too far from now")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{sent}.".encode() + body, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():  # several during a secret's rotation
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            payload: dict[str, Any] = json.loads(body)
            return payload
    raise InvalidSignature("no signature matches")


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


class WebhooksMixin:
    """Subscriptions, the delivery log and redelivery."""

    async def subscribe_webhook(self: _Caller, url: str, events: list[str], app_id: str | None = None) -> dict[str, Any]:
        """A new subscription; its `secret` (for `verify`) is only in this answer."""
        body: dict[str, Any] = {"url": url, "events": events}
        if app_id is not None:
            body["app_id"] = app_id
        result: dict[str, Any] = await self.call("POST", "/webhooks", json_body=body)
        return result

    async def webhooks(self: _Caller) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", "/webhooks"))["items"]
        return result

    async def unsubscribe_webhook(self: _Caller, webhook_id: str) -> None:
        await self.call("DELETE", f"/webhooks/{webhook_id}")

    async def enable_webhook(self: _Caller, webhook_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/webhooks/{webhook_id}/enable")
        return result

    async def webhook_deliveries(self: _Caller, webhook_id: str, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call(
            "GET", f"/webhooks/{webhook_id}/deliveries", params={"limit": str(limit)}))["items"]
        return result

    async def redeliver_webhook(self: _Caller, webhook_id: str, delivery_id: str) -> None:
        await self.call("POST", f"/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
