"""Every Socket.IO event, whatever its payload: a clean answer, never a 5xx-like one, never a traceback.

The events come from the hub's own registry, so an event added later (chat, presence, bookings, video) is
covered without touching this file.
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

import msgpack
import pytest
from klear_client import Realtime

from channels.interface import MAX_BIGINT
from server.appkeys import CHANNELS

from .conftest import pair

FIVE_XX_LIKE = {"internal_error", "unavailable"}
SEED = 20261010

# Values of the wrong type, range or size for any field, and binary garbage.
WRONG: list[Any] = [
    None, True, False, 0, -1, MAX_BIGINT, MAX_BIGINT + 1, 2**64, -(2**63) - 1, 10**40, 1.5, -0.0,
    float("nan"), float("inf"), 1e308, "", "x", "é" * 3000, "\x00", "a\x00b", "\u202e", "\ud800", "9" * 40,
    "-1", str(uuid.uuid4()).upper(), [], [None], ["x"] * 300, {}, {"$gt": ""}, [[[[[[]]]]]],
    b"", b"\x00\xff\xfe", bytes(range(256)), bytes(30_000),
]


def _registry(app) -> dict[str, Any]:
    return app.app[CHANNELS].hub.events()


def _integer_schemas(schema: Any, path: str = ""):
    """Every integer schema in a JSON schema, with where it is."""
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            yield path, schema
        for key, value in schema.items():
            yield from _integer_schemas(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _integer_schemas(value, f"{path}/{i}")


@pytest.mark.quick
async def test_every_integer_of_every_event_payload_is_bounded_by_bigint(app):
    events = _registry(app)
    assert {"message:edit", "receipt:read", "booking:subscribe", "rtc:candidate"} <= set(events)
    unbounded = [
        f"{event}{where}"
        for event, model in events.items()
        for where, schema in _integer_schemas(model.model_json_schema())
        if schema.get("maximum", math.inf) > MAX_BIGINT and schema.get("exclusiveMaximum", math.inf) > MAX_BIGINT + 1
    ]
    assert unbounded == [], "use channels.interface.Seq/PositiveSeq (or another upper bound) for these"


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        return _resolve(next(s for s in schema["anyOf"] if s.get("type") != "null"), defs)
    return schema


def _valid(name: str, schema: dict[str, Any], defs: dict[str, Any], known: dict[str, str]) -> Any:
    """A plausible value for a field, so that a mutation of one field leaves the others well-formed."""
    schema = _resolve(schema, defs)
    if name in known:
        return known[name]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        return {k: _valid(k, s, defs, known) for k, s in schema.get("properties", {}).items()}
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "x" * max(1, schema.get("minLength", 1))


def _payloads(model: Any, rng: random.Random, known: dict[str, str]) -> list[Any]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    props = schema.get("properties", {})
    # Required fields and the ones we know a good value for: a mutation of one field then reaches the handler.
    base = {k: _valid(k, s, defs, known) for k, s in props.items() if k in schema.get("required", ()) or k in known}
    out: list[Any] = [base, {**base, "unexpected": 1}]
    out += rng.sample(WRONG, 12)  # the whole payload of a wrong type
    for name, field in props.items():
        resolved = _resolve(field, defs)
        for value in rng.sample(WRONG, 8):
            out.append({**base, name: value})
        if resolved.get("type") == "object":
            good = _valid(name, resolved, defs, known)
            for inner in resolved.get("properties", {}):
                out.append({**base, name: {**good, inner: rng.choice(WRONG)}})
        if resolved.get("type") == "integer":
            out += [{**base, name: v} for v in (MAX_BIGINT, MAX_BIGINT + 1, 2**64, -1)]
    out += [{rng.choice(["", "a", "__proto__", "ö"]): rng.choice(WRONG)} for _ in range(3)]
    return out


def _packable(value: Any) -> bool:
    try:
        msgpack.packb(value)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        return False
    return True


async def _fuzz(rt: Realtime, events: dict[str, Any], known: dict[str, str], *, msgpack_only: bool) -> list[str]:
    """Send every fuzzed payload of every event; return what was wrong with the answers."""
    rng = random.Random(SEED)
    problems: list[str] = []
    calls = [(event, payload) for event, model in sorted(events.items()) for payload in _payloads(model, rng, known)]
    if msgpack_only:
        calls = [(e, p) for e, p in calls if _packable(p)]

    async def one(event: str, payload: Any) -> None:
        try:
            ack = await rt.sio.call(event, payload, timeout=10)
        except Exception as exc:  # noqa: BLE001 (a missing ack is a finding, whatever the client raised)
            problems.append(f"{event} {payload!r:.80}: no ack ({type(exc).__name__})")
            return
        if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
            problems.append(f"{event} {payload!r:.80}: malformed ack {ack!r:.120}")
        elif not ack["ok"]:
            error = ack.get("error")
            if not isinstance(error, dict) or error.get("code") in FIVE_XX_LIKE or not error.get("message"):
                problems.append(f"{event} {payload!r:.80}: {error!r:.200}")

    for event, payload in calls:  # one at a time: the client interleaves the frames of concurrent binary packets
        await one(event, payload)
    assert len(calls) > 500
    return problems


async def test_fuzzed_payloads_of_every_event_get_a_clean_answer_on_both_endpoints(app, server, clients, realtime):
    events = _registry(app)
    assert any(e.startswith("rtc:") for e in events) and any(e.startswith("booking") for e in events)
    alice, _, cid = await pair(clients, server.url)
    known = {"conversation_id": cid, "body": "fuzz"}
    problems = []
    for serializer in ("json", "msgpack"):
        rt = await realtime(alice, serializer=serializer, reconnect=False)
        problems += await _fuzz(rt, events, known, msgpack_only=serializer == "msgpack")

        assert rt.sio.connected, f"the {serializer} socket was dropped"
    await server.logs_flushed()
    assert problems == []
    assert [line for line in server.raw_logs if "Traceback" in line or '"level":"error"' in line] == []
