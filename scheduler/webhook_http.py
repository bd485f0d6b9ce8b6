"""Sending webhooks: Standard Webhooks signatures, and the address checks that keep them off internal networks.

A webhook URL is someone else's choice, so the server must not become their
way into our network (SSRF). A URL must be https, and every address it
resolves to must be public: no private, loopback, link-local, shared or
metadata address. That is checked when the subscription is made and again at
every delivery, after DNS resolution and on the very addresses the connection
then uses (the resolver below), so a name that later points inside is
refused. Redirects are not followed. `allow_loopback` (a setting for tests and
local development) admits loopback addresses, and plain http to them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services; all are non-public anyway, named so no later rule change lets one through.
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))
EXCERPT = 500  # characters of the receiver's answer kept in the delivery log


class RefusedUrl(Exception):
    """A webhook URL that may not be used: `reason` says why (for the subscriber and the delivery log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address_allowed(ip: IPAddress, *, allow_loopback: bool) -> bool:
    """A public unicast address (or loopback, when allowed); never a metadata service."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return False
    if allow_loopback and ip.is_loopback:
        return True
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_form(url: str, *, allow_loopback: bool) -> str:
    """The URL's host after checking its shape: https (http only to loopback when allowed), a host, no
    credentials, and a literal address that is allowed. Raises `RefusedUrl`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise RefusedUrl("not a valid URL") from None
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise RefusedUrl("the URL needs a host, and no credentials or fragment")
    literal = _literal(host)
    loopback_name = host == "localhost" or (literal is not None and literal.is_loopback)
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_loopback and loopback_name):
        raise RefusedUrl("webhook URLs must use https")
    if literal is not None and not address_allowed(literal, allow_loopback=allow_loopback):
        raise RefusedUrl("the URL's address is not a public one")
    return host


async def check_url(url: str, *, allow_loopback: bool, timeout: float = 5.0) -> None:
    """At subscription time: the URL's shape, and every address its host resolves to now."""
    host = check_form(url, allow_loopback=allow_loopback)
    if _literal(host) is not None:
        return
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise RefusedUrl("the URL's host does not resolve") from None
    for info in infos:
        if not address_allowed(ipaddress.ip_address(info[4][0]), allow_loopback=allow_loopback):
            raise RefusedUrl("the URL's host resolves to an address that is not a public one")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing every answer that holds an address not allowed. The connection uses the
    checked addresses, so nothing can change between the check and the connect."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_loopback = allow_loopback

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if any(not address_allowed(ipaddress.ip_address(r["host"]), allow_loopback=self._allow_loopback) for r in found):
            raise RefusedUrl("the URL's host resolves to an address that is not a public one")
        return found

    async def close(self) -> None:
        await self._inner.close()


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: whsec_ and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: v1, and base64 HMAC-SHA256 of "id.timestamp.body" under the secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


@dataclass(frozen=True, slots=True)
class Answer:
    """One attempt's outcome, as the delivery log keeps it."""

    status: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    """One process's HTTP client for webhooks: pooled connections, the guarded resolver, a timeout."""

    def __init__(self, *, allow_loopback: bool, timeout: float) -> None:
        self._allow_loopback = allow_loopback
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_loopback=allow_loopback), limit=256)
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), headers={"User-Agent": "KlearKarma-Webhooks/1"},
        )

    async def close(self) -> None:
        await self._http.close()

    async def send(self, url: str, secret: str, msg_id: str, payload: dict[str, Any]) -> Answer:
        """POST one signed delivery; never raises for the receiver's failures, it reports them."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(secret, msg_id, stamp, body)}
        start = time.perf_counter()

        def took() -> int:
            return round((time.perf_counter() - start) * 1000)

        try:
            check_form(url, allow_loopback=self._allow_loopback)
            async with self._http.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                text = (await resp.content.read(4 * EXCERPT)).decode("utf-8", "replace")[:EXCERPT]
                error = None if 200 <= resp.status < 300 else "http_status"
                return Answer(resp.status, took(), error, text)
        except RefusedUrl:
            return Answer(None, took(), "refused_address", None)
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(getattr(exc, "os_error", None), RefusedUrl) or isinstance(exc.__cause__, RefusedUrl)
            return Answer(None, took(), "refused_address" if refused else "connection", None)
        except TimeoutError:
            return Answer(None, took(), "timeout", None)
        except (aiohttp.ClientError, OSError):
            return Answer(None, took(), "connection", None)
