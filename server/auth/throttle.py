"""Who may try a password, and how often: throttles that slow guessing without locking the owner out.

Counting failures per account alone let anyone lock a user out with five
wrong guesses, and keep them out with one a minute. So the limits are:

- per client (an IPv4 address, or an IPv6 /64): every login attempt counts;
- per (account, client): failed attempts count, so one client's guessing
  stops that client only;
- per account, failed attempts from every client count; once that is spent,
  only clients that have not failed on the account recently may try, so the
  owner signing in from their own device still gets in while a spread-out
  attack is held to one guess per client.

Unknown emails are throttled exactly like real ones, so the throttle tells
nothing about which accounts exist. Registration is limited per client too.
"""

from __future__ import annotations

import ipaddress

from storage.ratelimit import RateLimiter

from ..config import ServerSettings


def client_key(remote: str | None) -> str:
    """The unit a client is counted by: its IPv4 address, or its IPv6 /64 (one subscriber's usual allocation)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class LoginThrottle:
    """The login limits of one request: `wait()` before checking the password, `failed()` after a wrong one."""

    def __init__(self, limiter: RateLimiter, settings: ServerSettings, client: str, account: str) -> None:
        self._limiter = limiter
        self._s = settings
        self._client_key = f"login:ip:{client}"
        self._pair_key = f"login:fail:{account}:{client}"
        self._account_key = f"login:fail:{account}"

    async def wait(self) -> float:
        """Seconds this client must wait before trying this account; 0.0 to go ahead."""
        s = self._s
        waits = [await self._limiter.take(self._client_key, s.login_rate_ip)]
        pair = await self._limiter.peek(self._pair_key, s.login_rate_account_ip)
        if pair < 1:
            waits.append((1 - pair) / s.login_rate_account_ip.per_second)
        elif pair < s.login_rate_account_ip.burst:  # this client failed on this account recently
            account = await self._limiter.peek(self._account_key, s.login_rate_account)
            if account < 1:
                waits.append(min((1 - account) / s.login_rate_account.per_second,
                                 (s.login_rate_account_ip.burst - pair) / s.login_rate_account_ip.per_second))
        return max(waits)

    async def failed(self) -> None:
        """Count a wrong password against this client on this account, and against the account."""
        await self._limiter.take(self._pair_key, self._s.login_rate_account_ip)
        await self._limiter.take(self._account_key, self._s.login_rate_account)
