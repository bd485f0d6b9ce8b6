"""Times as the API writes them, and whose time zone a booking shows.

Every instant the API emits is UTC with a `Z`, whatever offset it was sent
with: in the answer, a retry, every read, the stored events (live, `/events`,
the feed) and the other person's notifications. Only `local_…` fields keep an
offset, written as digits. A booking shows each person's account zone.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import types
import typing
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from klear_client import Realtime
from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

import server.api
from server.routing import RouteTable

from ..conftest import signed_up
from ..support.eventually import eventually, holds
from .conftest import ALL_DAY, make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
_OFFSET = re.compile(r"[+-]\d\d:\d\d$")


def _times(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in `value` that is an ISO 8601 date-time, with where it was."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _times(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _times(item, f"{path}[{i}]")
    elif isinstance(value, str) and _ISO.match(value):
        yield path, value


def _assert_utc(answers: dict[str, Any]) -> None:
    """Instants end in Z; `local_…` times carry a numeric offset instead."""
    found = list(_times(answers))
    assert found, "no times to check"
    for path, value in found:
        if path.rsplit(".", 1)[-1].startswith("local_"):
            assert _OFFSET.search(value), f"{path} = {value}: a local time keeps its numeric offset"
        else:
            assert value.endswith("Z"), f"{path} = {value}: not UTC with a Z"


async def _live(rt: Realtime, wanted: dict[str, int]) -> dict[str, list[Any]]:
    """The events `rt` received, by name, once at least `wanted[name]` of each have arrived."""
    got: dict[str, list[Any]] = {name: [] for name in wanted}

    async def arrived() -> dict[str, list[Any]]:
        while not rt.events.empty():
            name, data = rt.events.get_nowait()
            got.setdefault(name, []).append(data)
        holds(all(len(got[name]) >= count for name, count in wanted.items()), got)
        return got

    return await eventually(arrived)


async def test_a_time_sent_with_an_offset_comes_back_in_utc_everywhere(app, clients):
    p = await make_practitioner(clients(app.url), tz="UTC", weekly=ALL_DAY)
    client = await signed_up(clients(app.url), tz="Asia/Kolkata")
    live = Realtime(p.client)
    await live.connect()
    try:
        await live.call("bookings:subscribe", {})
        day = next_weekday_date(3)
        first = await client.book(p.offering_id, f"{day}T20:30:00+05:30", idempotency_key="offset-1")
        retry = await client.book(p.offering_id, f"{day}T20:30:00+05:30", idempotency_key="offset-1")
        assert first["start_at"] == f"{day}T15:00:00Z" and first["end_at"] == f"{day}T16:00:00Z"
        # The first answer, a retry and every later read say exactly the same.
        assert retry == first
        assert await client.booking(first["id"]) == first
        assert [b for b in (await client.bookings())["items"] if b["id"] == first["id"]] == [first]

        moved = await client.reschedule(first["id"], f"{day}T22:30:00+05:30")
        assert moved["start_at"] == f"{day}T17:00:00Z"
        answers = {
            "first": first, "moved": moved, "old": await client.booking(first["id"]),
            "events": await client.booking_events(first["id"]), "new_events": await client.booking_events(moved["id"]),
            "client_feed": await client.booking_feed(), "practitioner_feed": await p.client.booking_feed(),
            "practitioner_notifications": await p.client.notifications(),
            "live": await _live(live, {"bookings:update": 3, "notification:new": 2}),
            "slots": await client.slots(p.id, p.offering_id, f"{day}T20:00:00+05:30", f"{day}T23:00:00+05:30", "Asia/Kolkata"),
            "time_off": await p.client.add_time_off(p.id, f"{day}T23:30:00+05:30", f"{day}T23:45:00+05:30"),
        }
    finally:
        await live.close()

    _assert_utc(answers)
    assert "+05:30" not in json.dumps({k: v for k, v in answers.items() if k != "slots"})
    told = {n["kind"]: n["data"] for n in answers["practitioner_notifications"]["items"]}
    assert told["booking_created"]["start_at"] == f"{day}T15:00:00Z"
    assert (told["booking_rescheduled"]["start_at"], told["booking_rescheduled"]["previous_start_at"]) == (
        f"{day}T17:00:00Z", f"{day}T15:00:00Z")
    assert answers["events"]["events"][0]["body"]["booking"]["start_at"] == f"{day}T15:00:00Z"
    assert answers["slots"]["slots"][0]["local_start"].endswith("+05:30")


async def test_a_local_time_in_utc_is_written_plus_zero_not_z(app, clients):
    p = await make_practitioner(clients(app.url), tz="UTC", weekly=ALL_DAY)
    viewer = await signed_up(clients(app.url))
    day = next_weekday_date(3)
    got = await viewer.slots(p.id, p.offering_id, day, day, "UTC")
    first = got["slots"][0]
    assert (first["start"], first["local_start"], first["local_end"]) == (
        f"{day}T00:00:00Z", f"{day}T00:00:00+00:00", f"{day}T01:00:00+00:00")


async def test_a_booking_shows_each_persons_account_time_zone_in_every_answer(app, clients):
    """The rule (docs/booking.md): `client.time_zone` and `practitioner.time_zone` are their accounts' zones,
    the ones their emails use, as they are now; the zone of a practitioner's hours is on the profile."""
    p = await make_practitioner(clients(app.url), tz="Europe/London", account_tz="America/New_York", weekly=ALL_DAY)
    client = await signed_up(clients(app.url), tz="Asia/Kolkata")
    day = next_weekday_date(3)

    def zones(b: dict[str, Any]) -> tuple[str, str]:
        return b["client"]["time_zone"], b["practitioner"]["time_zone"]

    booked = await client.book(p.offering_id, f"{day}T10:00:00Z")
    reads = [booked, await client.booking(booked["id"]), await p.client.booking(booked["id"]),
             *(await client.bookings())["items"], *(await p.client.bookings())["items"]]
    assert {zones(b) for b in reads} == {("Asia/Kolkata", "America/New_York")}
    assert (await p.client.practitioner(p.id))["time_zone"] == "Europe/London"  # the hours' zone, unchanged

    await p.client.update_me(time_zone="Asia/Tokyo")
    moved = await client.reschedule(booked["id"], f"{day}T11:00:00Z")
    assert zones(moved) == zones(await client.booking(booked["id"])) == ("Asia/Kolkata", "Asia/Tokyo")


# -- every instant field of the booking and slot answers is declared to be written in UTC --------------------

_SENT = datetime(2027, 3, 14, 20, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))


def _datetime_fields(tp: Any, path: str, seen: set[Any]) -> Iterator[tuple[str, Any]]:
    """(path, type) of every datetime a response type can hold, with the annotations that shape its output."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is datetime or (origin is Annotated and args[0] is datetime):
        yield path, tp
    elif origin is Annotated:
        yield from _datetime_fields(args[0], path, seen)
    elif origin in (typing.Union, types.UnionType, list, dict, tuple):
        for arg in args:
            yield from _datetime_fields(arg, path, seen)
    elif isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
        seen.add(tp)
        for name, f in tp.model_fields.items():
            annotated = Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
            yield from _datetime_fields(annotated, f"{tp.__name__}.{name}", seen)
    elif is_typeddict(tp) and tp not in seen:
        seen.add(tp)
        for name, hint in typing.get_type_hints(tp, include_extras=True).items():
            yield from _datetime_fields(hint, f"{tp.__name__}.{name}", seen)


def _route_tables(*modules: str) -> list[RouteTable]:
    found = [importlib.import_module(f"server.api.{m.name}") for m in pkgutil.iter_modules(server.api.__path__)]
    return [mod.routes for mod in found if mod.__name__.rsplit(".", 1)[-1] in modules]


@pytest.mark.parametrize("module", ["bookings", "slots"])
def test_every_instant_a_booking_or_slot_answer_holds_is_written_in_utc(module):
    fields = [
        field for table in _route_tables(module) for route in table.routes if route.response is not None
        for field in _datetime_fields(route.response, route.response.__name__, set())
    ]
    assert fields
    for path, tp in fields:
        written = TypeAdapter(tp).dump_json(_SENT).decode()
        expected = '"2027-03-14T20:30:00+05:30"' if path.rsplit(".", 1)[-1].startswith("local_") else '"2027-03-14T15:00:00Z"'
        assert written == expected, f"{path} writes {written}: use server.api.fields.Instant (or LocalTime)"
