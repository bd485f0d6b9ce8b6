"""Server-side WebSocket frame bytes for Engine.IO packets.

Pure functions, no library internals: RFC 6455 section 5.2 framing for a
server (never masked) with no extension (RSV bits clear, so only valid on
connections that did NOT negotiate permessage-deflate), one frame per
message (FIN set, no fragmentation).

An Engine.IO v4 packet travels over the websocket transport as one message:
text packets as a TEXT frame holding ``<type digit><data>``, binary MESSAGE
packets (Socket.IO binary attachments, msgpack-encoded packets) as a BINARY
frame holding the raw bytes with no type prefix.
"""
from __future__ import annotations

from struct import Struct

OP_TEXT = 0x1
OP_BINARY = 0x2

_LEN1 = Struct("!BB")
_LEN2 = Struct("!BBH")
_LEN3 = Struct("!BBQ")


def frame(payload: bytes, opcode: int) -> bytes:
    """Return a complete unmasked, uncompressed, final websocket frame."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        header = _LEN1.pack(first, n)
    elif n < 65536:
        header = _LEN2.pack(first, 126, n)
    else:
        header = _LEN3.pack(first, 127, n)
    return header + payload


def frame_message(message: str | bytes | bytearray) -> bytes:
    """Frame an encoded Engine.IO packet (the value of ``Packet.encode()``).

    ``str`` becomes a TEXT frame (UTF-8), ``bytes``/``bytearray`` a BINARY
    frame -- exactly what engineio's aiohttp driver does through
    ``send_str``/``send_bytes``.
    """
    if isinstance(message, str):
        return frame(message.encode("utf-8"), OP_TEXT)
    return frame(bytes(message), OP_BINARY)


def frame_packets(encoded: list[str | bytes]) -> bytes:
    """Frames for several Engine.IO packets (a Socket.IO packet followed by
    its binary attachments), concatenated so one transport write sends them
    back to back and in order."""
    if len(encoded) == 1:
        return frame_message(encoded[0])
    return b"".join(frame_message(m) for m in encoded)
