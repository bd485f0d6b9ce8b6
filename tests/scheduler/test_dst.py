"""Slots over the API on the days daylight saving starts and ends (2027), for New York and London.

A 09:00-17:00 rule must give 09:00-16:00 local starts on both sides of each
change, which in UTC moves by an hour; a viewer in Kolkata (no DST, +05:30)
sees the same instants in their own time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ..conftest import signed_up
from .conftest import make_practitioner, parse

pytestmark = pytest.mark.quick

# (zone, day, UTC hour of the first 09:00 start)
DAYS = [
    ("America/New_York", "2027-03-13", 14),  # EST, the day before the change
    ("America/New_York", "2027-03-14", 13),  # EDT from 02:00
    ("America/New_York", "2027-11-06", 13),  # EDT, the day before
    ("America/New_York", "2027-11-07", 14),  # EST from 02:00
    ("Europe/London", "2027-03-27", 9),  # GMT
    ("Europe/London", "2027-03-28", 8),  # BST from 01:00
    ("Europe/London", "2027-10-30", 8),  # BST
    ("Europe/London", "2027-10-31", 9),  # GMT from 02:00
]


def expected(day: str, first_hour: int) -> list[str]:
    start = datetime.fromisoformat(day).replace(hour=first_hour, tzinfo=UTC)
    return [(start + timedelta(minutes=30 * i)).isoformat().replace("+00:00", "Z") for i in range(15)]


@pytest.fixture
async def practices(app, clients):
    return {
        tz: await make_practitioner(clients(app.url), tz=tz, name=f"In {tz}")
        for tz in ("America/New_York", "Europe/London")
    }


async def test_nine_to_five_rules_give_the_right_utc_slots_on_both_sides_of_each_change(app, clients, practices):
    viewer = await signed_up(clients(app.url), tz="UTC")
    for tz, day, first_hour in DAYS:
        p = practices[tz]
        got = await viewer.slots(p.id, p.offering_id, day, day, tz)  # dates read in the practitioner's zone
        assert [s["start"] for s in got["slots"]] == expected(day, first_hour), (tz, day)
        assert {s["local_start"][11:16] for s in got["slots"][:1]} == {"09:00"}
        assert got["slots"][-1]["local_end"][11:16] == "17:00"
        assert got["practitioner_time_zone"] == tz


async def test_a_viewer_in_kolkata_sees_the_same_instants_in_local_time(app, clients, practices):
    viewer = await signed_up(clients(app.url), tz="Asia/Kolkata")
    for tz, day, first_hour in DAYS:
        p = practices[tz]
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        got = await viewer.slots(p.id, p.offering_id, start.isoformat(), (start + timedelta(days=1)).isoformat(),
                                 "Asia/Kolkata")
        assert [s["start"] for s in got["slots"]] == expected(day, first_hour)
        for slot in got["slots"]:
            local = datetime.fromisoformat(slot["local_start"])
            assert local.utcoffset() == timedelta(hours=5, minutes=30)
            assert local == parse(slot["start"])
        assert got["slots"][0]["local_start"] == (
            f"{day}T{first_hour + 5:02d}:30:00+05:30"
        )


async def test_kolkata_dates_select_the_kolkata_day(app, clients, practices):
    """`from`/`to` dates are days in the viewer's zone: 14 March in Kolkata is 13 March 18:30 to 14 March 18:30 UTC."""
    p = practices["America/New_York"]
    viewer = await signed_up(clients(app.url), tz="Asia/Kolkata")
    got = await viewer.slots(p.id, p.offering_id, "2027-03-14", "2027-03-14", "Asia/Kolkata")
    assert got["range_start"] == "2027-03-13T18:30:00Z" and got["range_end"] == "2027-03-14T18:30:00Z"
    starts = [s["start"] for s in got["slots"]]
    # 13 March (EST) from 18:30 UTC: 18:30..21:00, then 14 March (EDT) 13:00..18:00.
    assert starts == [*expected("2027-03-13", 14)[9:], *expected("2027-03-14", 13)[:11]]


async def test_a_booking_across_the_change_keeps_its_local_time(app, clients, practices):
    p = practices["America/New_York"]
    client = await signed_up(clients(app.url), tz="Asia/Kolkata")
    booked = await client.book(p.offering_id, "2027-03-14T13:00:00Z")
    assert booked["start_at"] == "2027-03-14T13:00:00Z" and booked["end_at"] == "2027-03-14T14:00:00Z"
    slots = await client.slots(p.id, p.offering_id, "2027-03-14", "2027-03-14", "America/New_York")
    assert slots["slots"][0]["local_start"] == "2027-03-14T10:00:00-04:00"
