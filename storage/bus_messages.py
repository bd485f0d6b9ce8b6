"""Every kind of message on the bus: one class each, which encodes itself and decodes its bytes.

The bus (storage/bus.py) carries bytes on named channels; this module is the
one place that says what those bytes are. Publishers build a message and
publish `(message.channel, message.encode())`; subscribers call `decode`.
Messages that carry personal data (chat text, SDP with IP addresses) are
sealed with the data key, so Redis never sees them in clear.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgpack

from .crypto import Sealer
from .messages import Message

AUTH = "auth"


def chat_channel(conversation_id: uuid.UUID) -> str:
    """The routed channel of one conversation: heard by the processes with a socket in it."""
    return f"chat:{conversation_id}"


def booking_channel(booking_id: uuid.UUID) -> str:
    """The routed channel of one booking's updates (sockets following that booking)."""
    return f"booking:{booking_id}"


def feed_channel(user_id: uuid.UUID) -> str:
    """The routed channel of one user's booking feed (sockets following all their bookings)."""
    return f"feed:{user_id}"


def user_channel(user_id: uuid.UUID) -> str:
    """The routed channel of what is pushed to one user (notifications, contacts' presence): heard where
    they have a socket."""
    return f"user:{user_id}"


@dataclass(frozen=True, slots=True)
class SessionRevoked:
    """A sign-in session ended (logout, refresh-token reuse): caches drop it, its sockets are closed."""

    session_id: uuid.UUID
    channel: ClassVar[str] = AUTH

    def encode(self) -> bytes:
        return msgpack.packb(("session", self.session_id.bytes))


@dataclass(frozen=True, slots=True)
class UserChanged:
    """A user's profile or role changed: caches of it are dropped."""

    user_id: uuid.UUID
    channel: ClassVar[str] = AUTH

    def encode(self) -> bytes:
        return msgpack.packb(("user", self.user_id.bytes))


def decode_auth(data: bytes) -> SessionRevoked | UserChanged:
    """A message of the `auth` channel."""
    kind, raw = msgpack.unpackb(data)
    return SessionRevoked(uuid.UUID(bytes=raw)) if kind == "session" else UserChanged(uuid.UUID(bytes=raw))


@dataclass(frozen=True, slots=True)
class BookingChanged:
    """A committed booking change: its per-booking seq, each participant's feed seq, and the event body
    (docs/booking.md describes the body; `booking` inside it is the booking as the API shows it).

    Routed to the booking's channel (heard by sockets following it, and by the process hosting its video
    session, rtc/service.py) and each participant's feed channel."""

    booking_id: uuid.UUID
    booking_seq: int
    feed: dict[uuid.UUID, int]
    event: dict[str, Any]

    @property
    def booking(self) -> dict[str, Any]:
        booking: dict[str, Any] = self.event["booking"]
        return booking

    def routes(self) -> list[str]:
        """The routed channels this change goes to: its booking's, and each participant's feed."""
        return [booking_channel(self.booking_id), *(feed_channel(user) for user in self.feed)]

    def encode(self) -> bytes:
        return msgpack.packb({
            "booking_id": str(self.booking_id), "booking_seq": self.booking_seq,
            "feed": {str(user): seq for user, seq in self.feed.items()}, "event": self.event,
        })

    @classmethod
    def decode(cls, data: bytes) -> BookingChanged:
        env = msgpack.unpackb(data)
        return cls(uuid.UUID(env["booking_id"]), int(env["booking_seq"]),
                   {uuid.UUID(user): int(seq) for user, seq in env["feed"].items()}, env["event"])


@dataclass(frozen=True, slots=True)
class UserPush:
    """A Socket.IO event for every socket of one user, wherever they are connected: an in-app notification
    (`notification:new`, in the shape the REST list returns), a contact's presence change, or a change of a
    consent grant (`consent:proposed`, `consent:granted`, `consent:declined`, `consent:revoked`)."""

    user_id: uuid.UUID
    event: str
    data: dict[str, Any]

    @property
    def channel(self) -> str:
        return user_channel(self.user_id)

    def encode(self) -> bytes:
        return msgpack.packb([self.user_id.bytes, self.event, self.data])

    @classmethod
    def decode(cls, data: bytes) -> UserPush:
        user, event, body = msgpack.unpackb(data)
        return cls(uuid.UUID(bytes=user), event, body)


def available_channel(practitioner_id: uuid.UUID) -> str:
    """The routed channel of one practitioner's "available now" marker: heard where a socket watches them."""
    return f"available:{practitioner_id}"


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    """Something a practitioner's "available now" marker depends on may have changed: their presence, the
    setting, an offering, a booking around now, a session's start or end. It carries no value: each process with
    watchers of the practitioner computes it afresh (channels/available_now.py), so two announcements that cross
    cannot leave a stale value behind."""

    practitioner_id: uuid.UUID

    @property
    def channel(self) -> str:
        return available_channel(self.practitioner_id)

    def encode(self) -> bytes:
        return self.practitioner_id.bytes

    @classmethod
    def decode(cls, data: bytes) -> AvailabilityChanged:
        return cls(uuid.UUID(bytes=data))


PUSHES = "pushes"


@dataclass(frozen=True, slots=True)
class PushToMany:
    """A Socket.IO event for every socket of many users, broadcast on `pushes` to every process (each delivers
    to the users it has): one message instead of one per user, for a presence change of someone in a
    large group."""

    event: str
    data: dict[str, Any]
    user_ids: list[uuid.UUID]
    channel: ClassVar[str] = PUSHES

    def encode(self) -> bytes:
        return msgpack.packb([self.event, self.data, b"".join(u.bytes for u in self.user_ids)])

    @classmethod
    def decode(cls, data: bytes) -> PushToMany:
        event, body, users = msgpack.unpackb(data)
        return cls(event, body, [uuid.UUID(bytes=users[i:i + 16]) for i in range(0, len(users), 16)])


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


@dataclass(frozen=True, slots=True)
class ChatPosted:
    """A chat message stored (`kind` "new") or revised ("updated") by some process; sealed on the bus."""

    @property
    def channel(self) -> str:
        return chat_channel(self.message.conversation_id)

    kind: str
    message: Message

    def encode(self, sealer: Sealer) -> bytes:
        m = self.message
        raw = msgpack.packb([
            self.kind, m.conversation_id.bytes, m.seq, m.rev, m.id.bytes, m.sender_id.bytes, m.client_id.bytes,
            m.body, m.ciphertext, m.nonce, m.sender_key_id, _ts(m.created_at), _ts(m.edited_at), _ts(m.deleted_at),
        ])
        return sealer.seal(raw, _CHAT_CONTEXT)


@dataclass(frozen=True, slots=True)
class ChatSignal:
    """A receipt or typing event of one conversation, for the joined sockets in `rooms` on every process
    (but `skip_sid`, the socket it came from); sealed on the bus like the messages it travels with."""

    conversation_id: uuid.UUID
    event: str
    data: dict[str, Any]
    rooms: list[str]
    skip_sid: str | None = None

    @property
    def channel(self) -> str:
        return chat_channel(self.conversation_id)

    def encode(self, sealer: Sealer) -> bytes:
        raw = msgpack.packb([_SIGNAL, self.conversation_id.bytes, self.event, self.data, self.rooms, self.skip_sid])
        return sealer.seal(raw, _CHAT_CONTEXT)


_CHAT_CONTEXT = "bus.chat"
_SIGNAL = "signal"


def decode_chat(sealer: Sealer, data: bytes) -> ChatPosted | ChatSignal:
    """A message of a `chat:<conversation>` channel."""
    f = msgpack.unpackb(sealer.open(data, _CHAT_CONTEXT))
    if f[0] == _SIGNAL:
        return ChatSignal(uuid.UUID(bytes=f[1]), f[2], f[3], f[4], f[5])
    message = Message(
        conversation_id=uuid.UUID(bytes=f[1]), seq=f[2], rev=f[3], id=uuid.UUID(bytes=f[4]),
        sender_id=uuid.UUID(bytes=f[5]), client_id=uuid.UUID(bytes=f[6]), body=f[7], ciphertext=f[8],
        nonce=f[9], sender_key_id=f[10], created_at=_dt(f[11]) or datetime.now(UTC), edited_at=_dt(f[12]),
        deleted_at=_dt(f[13]),
    )
    return ChatPosted(f[0], message)


def rtc_channel(process_id: str) -> str:
    """The channel on which one video process hears relayed signalling (rtc/sessions/relay.py)."""
    return f"rtc:{process_id}"


_RTC_CONTEXT = "bus.rtc"


@dataclass(frozen=True, slots=True)
class RtcRequest:
    """Video signalling to a session's owner: operation `op` for a socket of process `sender`; sealed (SDP)."""

    request_id: int
    sender: str
    op: str
    args: dict[str, Any]

    def encode(self, sealer: Sealer) -> bytes:
        fields = {"t": "req", "id": self.request_id, "from": self.sender, "op": self.op, "args": self.args}
        return _seal_rtc(sealer, fields)


@dataclass(frozen=True, slots=True)
class RtcReply:
    """The owner's ack to an `RtcRequest`; sealed."""

    request_id: int
    ack: dict[str, Any]

    def encode(self, sealer: Sealer) -> bytes:
        return _seal_rtc(sealer, {"t": "rep", "id": self.request_id, "ack": self.ack})


@dataclass(frozen=True, slots=True)
class RtcEmit:
    """An event (an offer, a room event) for socket `sid` of the addressed process; sealed."""

    sid: str
    event: str
    data: dict[str, Any]

    def encode(self, sealer: Sealer) -> bytes:
        return _seal_rtc(sealer, {"t": "emit", "sid": self.sid, "event": self.event, "data": self.data})


def _seal_rtc(sealer: Sealer, fields: dict[str, Any]) -> bytes:
    return sealer.seal(msgpack.packb(fields, use_bin_type=True), _RTC_CONTEXT)


def decode_rtc(sealer: Sealer, data: bytes) -> RtcRequest | RtcReply | RtcEmit:
    """A message of an `rtc:<process id>` channel."""
    f = msgpack.unpackb(sealer.open(data, _RTC_CONTEXT), raw=False)
    if f["t"] == "req":
        return RtcRequest(f["id"], f["from"], f["op"], f["args"])
    if f["t"] == "rep":
        return RtcReply(f["id"], f["ack"])
    if f["t"] == "emit":
        return RtcEmit(f["sid"], f["event"], f["data"])
    raise ValueError(f"not an rtc message: {f['t']!r}")
