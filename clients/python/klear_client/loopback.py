"""Loopback-only ICE, for tests and benchmarks on one machine.

Why: aioice offers host candidates on every interface *except* 127.0.0.1, so
two peers on one machine would talk over the machine's external address. In
the sandboxes we test in, media may only travel over loopback, and loopback
also keeps measurements free of NIC effects. The server never calls this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aioice.ice


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else ["::1"]


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """Within this block every new ICE agent gathers 127.0.0.1 only."""
    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = _loopback_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original
