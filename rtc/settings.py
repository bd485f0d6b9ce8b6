"""The video component's settings: ICE servers, which networks clients' candidates may name, session size and
how long a connection may take."""

from __future__ import annotations

from dataclasses import dataclass

from storage.settings import json_value, seconds, setting, whole

from .sfu.candidates import Network, networks


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server, in the shape of the browser's `RTCIceServer`."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def ice_servers(raw: str) -> tuple[IceServer, ...]:
    """A JSON array like `[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]`."""
    shape = 'must be a JSON array of {"urls", "username"?, "credential"?} with stun:, turn: or turns: URLs'
    items = json_value(raw, shape)
    if not isinstance(items, list):
        raise ValueError(shape)
    servers: list[IceServer] = []
    for item in items:
        if not isinstance(item, dict) or not set(item) <= {"urls", "username", "credential"}:
            raise ValueError(shape)
        urls = item.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls or not all(
            isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns") for u in urls
        ):
            raise ValueError(shape)
        username, credential = item.get("username"), item.get("credential")
        if not all(v is None or isinstance(v, str) for v in (username, credential)):
            raise ValueError(shape)
        servers.append(IceServer(tuple(urls), username, credential))
    return tuple(servers)


@dataclass(frozen=True, slots=True)
class RtcSettings:
    ice_servers: tuple[IceServer, ...] = setting(
        "KLEAR_ICE_SERVERS", ice_servers, "[]",
        "STUN/TURN servers for video, as a JSON array of RTCIceServer objects; given to clients too. "
        "Empty: host candidates only, no third party contacted.",
    )
    candidate_networks: tuple[Network, ...] | None = setting(
        "KLEAR_RTC_CANDIDATE_NETWORKS", networks, "auto",
        "Networks video clients' ICE candidates may name (the SFU sends checks there), as comma-separated CIDRs. "
        "auto: any unicast address but link-local and reserved ones, and loopback only if KLEAR_HOST is loopback. "
        "Metadata addresses such as 169.254.169.254 are always refused.",
    )
    max_participants: int = setting(
        "KLEAR_RTC_MAX_PARTICIPANTS", whole(2, 100), "10", "Most participants in one video session (group classes)."
    )
    ice_timeout: float = setting(
        "KLEAR_RTC_ICE_TIMEOUT", seconds(1, 300), "20",
        "Seconds a video participant's connection may take to come up before it is removed (a failed one goes at once).",
    )
