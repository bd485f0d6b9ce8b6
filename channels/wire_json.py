"""The JSON module Socket.IO and Engine.IO encode and decode packets with: orjson.

Why: every chat message is decoded once (the client's event) and encoded at
least twice (its ack and its delivery). The libraries' default, the standard
library through engineio's wrapper, builds a new decoder on every call (it
passes `parse_int`), about 5 µs a packet against orjson's 0.5. orjson also
parses an oversized integer as a float instead of as a big integer, which is
what that wrapper guarded against, and our payload models refuse floats where
they expect integers. What orjson refuses either way goes through the
standard library, so behaviour at the edges is what it was.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from engineio import json as engineio_json

JSONDecodeError = orjson.JSONDecodeError  # a ValueError, as the libraries expect


def dumps(obj: Any, **_: Any) -> str:
    """Compact JSON text (the libraries pass `separators`, which is what orjson writes anyway). What orjson
    refuses, an integer beyond 64 bits echoed back in a refusal say, goes through the standard library."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return json.dumps(obj, separators=(",", ":"))


def loads(text: str | bytes, **_: Any) -> Any:
    """orjson first; what it refuses but the libraries' default reads (NaN, a lone surrogate) is read as before,
    so a client sees the same answers either way."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return engineio_json.loads(text)
