"""ICE servers from the settings, for the server's peers and for clients.

Why one list for both: clients behind NAT need the same STUN/TURN servers the
operator runs, and a server behind a 1:1 NAT learns its public address from
the same STUN server. The default is no server at all, so nothing outside our
own hosts ever learns who meets whom; aiortc's own default (a public Google
STUN server) is never used because the list is always passed explicitly.
aiortc uses the first STUN and the first TURN URL it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from ..settings import IceServer


def configuration_factory(servers: Sequence[IceServer]) -> Callable[[], RTCConfiguration]:
    """A factory of server-side configurations (one per peer connection; aiortc keeps a reference)."""

    def make() -> RTCConfiguration:
        return RTCConfiguration(
            iceServers=[RTCIceServer(list(s.urls), s.username, s.credential) for s in servers],
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )

    return make


def for_clients(servers: Sequence[IceServer]) -> list[dict[str, Any]]:
    """The list in the browser's `RTCConfiguration.iceServers` shape."""
    out: list[dict[str, Any]] = []
    for s in servers:
        entry: dict[str, Any] = {"urls": list(s.urls)}
        if s.username is not None:
            entry["username"] = s.username
        if s.credential is not None:
            entry["credential"] = s.credential
        out.append(entry)
    return out
