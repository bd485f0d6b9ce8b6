"""The channels component's settings: chat rate, presence and slow-consumer bounds."""

from __future__ import annotations

from dataclasses import dataclass

from storage.settings import Rate, rate, setting, whole


@dataclass(frozen=True, slots=True)
class ChannelsSettings:
    chat_rate: Rate = setting("KLEAR_CHAT_RATE", rate, "30/10", "Chat messages a user may send: MESSAGES/SECONDS.")
    presence_ttl: int = setting(
        "KLEAR_PRESENCE_TTL", whole(3, 300), "25", "Seconds a socket counts as present without a heartbeat."
    )
    socket_max_pending: int = setting(
        "KLEAR_SOCKET_MAX_PENDING", whole(65_536, 268_435_456), "2097152",
        "Bytes a socket may leave unread before it is disconnected as a slow consumer.",
    )
