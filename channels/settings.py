"""The channels component's settings: chat and presence rates, presence bounds, and the caps on sockets."""

from __future__ import annotations

from dataclasses import dataclass

from storage.settings import Rate, rate, seconds, setting, whole


@dataclass(frozen=True, slots=True)
class ChannelsSettings:
    chat_rate: Rate = setting("KLEAR_CHAT_RATE", rate, "30/10", "Chat messages a user may send: MESSAGES/SECONDS.")
    max_device_keys: int = setting(
        "KLEAR_MAX_DEVICE_KEYS", whole(1, 1000), "20",
        "Active end-to-end encryption device keys one user may have; revoking one makes room.",
    )
    presence_ttl: int = setting(
        "KLEAR_PRESENCE_TTL", whole(3, 300), "25",
        "A user whose devices all went silent (frozen, cut off, or on a dead process) is shown offline "
        "within this many seconds plus 2; sockets are pinged often enough to keep that bound.",
    )
    presence_rate: Rate = setting(
        "KLEAR_PRESENCE_RATE", rate, "10/10", "`presence:set` calls a user may make: CALLS/SECONDS."
    )
    socket_max_pending: int = setting(
        "KLEAR_SOCKET_MAX_PENDING", whole(65_536, 268_435_456), "2097152",
        "Bytes a socket may leave unread before it is disconnected as a slow consumer.",
    )
    sockets_per_user: int = setting(
        "KLEAR_SOCKETS_PER_USER", whole(1, 10_000), "20",
        "Sockets one user may have connected to one process; more are refused with `too_many_sockets`.",
    )
    handshake_timeout: float = setting(
        "KLEAR_SOCKET_HANDSHAKE_TIMEOUT", seconds(1, 300), "10",
        "Seconds an Engine.IO connection may stay open without a successful Socket.IO CONNECT.",
    )
    max_handshakes: int = setting(
        "KLEAR_SOCKET_MAX_HANDSHAKES", whole(1, 1_000_000), "256",
        "Engine.IO connections one process holds that have not completed a Socket.IO CONNECT; more are refused.",
    )
    max_protocol_errors: int = setting(
        "KLEAR_SOCKET_MAX_PROTOCOL_ERRORS", whole(1, 1000), "5",
        "Malformed Socket.IO packets a connection may send before it is closed.",
    )
