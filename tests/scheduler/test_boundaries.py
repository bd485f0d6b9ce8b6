"""Values at and beyond the edges of what the scheduling API takes: refused with a clear 422, never a 500.

The outside review found years 1 and 9999 (datetime arithmetic overflowed),
integers of 2^63 (beyond PostgreSQL's bigint), lenient query parsing (`to=0.5`
read as 1970) and control characters in text that later broke every email.
"""

from __future__ import annotations

import uuid

import pytest
from klear_client import KlearClient

from ..conftest import signed_up
from ..test_bad_input import assert_error_shape
from .conftest import make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick


@pytest.fixture(scope="module")
async def setup(shared_app):
    """A practitioner, a client and one booking between them on the module's app."""
    made = [KlearClient(shared_app.url) for _ in range(2)]
    p = await make_practitioner(made[0])
    client = await signed_up(made[1])
    booking = await client.book(p.offering_id, f"{next_weekday_date(2)}T10:00:00Z")
    yield p, client, booking
    for c in made:
        await c.close()


def assert_422(resp, field: str) -> None:
    assert resp.status == 422, (resp.status, resp.body)
    error = assert_error_shape(resp.body, "validation_failed")
    assert any(d["loc"][-1] == field or field in map(str, d["loc"]) for d in error["details"]), error


EDGE_INSTANTS = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z", "9999-12-31T23:00:00-05:00"]
EDGE_DATES = ["0001-01-01", "9999-12-31"]


@pytest.mark.parametrize("moment", EDGE_INSTANTS + EDGE_DATES)
@pytest.mark.parametrize("which", ["from", "to"])
async def test_slots_at_the_ends_of_the_calendar_are_refused(setup, moment, which):
    p, client, _ = setup
    query = {"offering": p.offering_id, "from": "2027-02-10", "to": "2027-02-11", "tz": "Pacific/Kiritimati", which: moment}
    assert_422(await client.raw("GET", f"/api/v1/practitioners/{p.id}/slots", params=query), which)


@pytest.mark.parametrize("moment", EDGE_INSTANTS)
async def test_bookings_reschedules_and_time_off_at_the_ends_of_the_calendar_are_refused(setup, moment):
    p, client, booking = setup
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert_422(await client.raw("POST", "/api/v1/bookings", json_body={"offering_id": p.offering_id, "start_at": moment},
                                headers=key), "start_at")
    assert_422(await client.raw("POST", f"/api/v1/bookings/{booking['id']}/reschedule", json_body={"start_at": moment},
                                headers=key), "start_at")
    assert_422(await p.client.raw("POST", f"/api/v1/practitioners/{p.id}/time-off",
                                  json_body={"starts_at": "2027-01-01T00:00:00Z", "ends_at": moment}), "ends_at")
    assert_422(await client.raw("GET", "/api/v1/bookings", params={"from": moment}), "from")
    assert_422(await client.raw("GET", "/api/v1/bookings", params={"after": f"{moment}_{uuid.uuid4()}"}), "after")


@pytest.mark.parametrize("date", EDGE_DATES)
async def test_date_overrides_at_the_ends_of_the_calendar_are_refused(setup, date):
    p, _, _ = setup
    body = {"weekly": [], "overrides": [{"date": date, "kind": "day_off"}]}
    assert_422(await p.client.raw("PUT", f"/api/v1/practitioners/{p.id}/availability", json_body=body), "date")


@pytest.mark.parametrize("value", [str(2**63), str(2**64), str(-(2**63) - 1), "9" * 40])
async def test_sequence_numbers_beyond_64_bits_are_refused(setup, value):
    _, client, booking = setup
    assert_422(await client.raw("GET", "/api/v1/me/booking-feed", params={"after": value}), "after")
    assert_422(await client.raw("GET", f"/api/v1/bookings/{booking['id']}/events", params={"after": value}), "after")
    conversation = booking["conversation_id"]
    for name in ("before_seq", "after_seq"):
        assert_422(await client.raw("GET", f"/api/v1/conversations/{conversation}/messages", params={name: value}), name)


async def test_the_largest_sequence_number_is_taken(setup):
    _, client, booking = setup
    feed = await client.raw("GET", "/api/v1/me/booking-feed", params={"after": str(2**63 - 1)})
    assert feed.status == 200 and feed.body["items"] == []
    events = await client.raw("GET", f"/api/v1/bookings/{booking['id']}/events", params={"after": str(2**63 - 1)})
    assert events.status == 200 and events.body["events"] == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/bookings", {"to": "0.5"}, "to"),
        ("/api/v1/bookings", {"from": "1700000000"}, "from"),
        ("/api/v1/bookings", {"from": "2027-02-10T10:00:00"}, "from"),
        ("/api/v1/bookings", {"limit": "5.0"}, "limit"),
        ("/api/v1/bookings", {"limit": " 5"}, "limit"),
        ("/api/v1/me/booking-feed", {"after": "+0.0"}, "after"),
        ("/api/v1/me/booking-feed", {"after": "+0"}, "after"),
        ("/api/v1/me/booking-feed", {"after": "1e3"}, "after"),
        ("/api/v1/me/booking-feed", {"after": "0x10"}, "after"),
        ("/api/v1/me/booking-feed", {"after": "1_0"}, "after"),
        ("/api/v1/me/booking-feed", {"after": "007"}, "after"),
        ("/api/v1/notifications", {"unread": "1"}, "unread"),
        ("/api/v1/notifications", {"unread": "yes"}, "unread"),
        ("/api/v1/practitioners", {"limit": "true"}, "limit"),
    ],
)
async def test_query_parameters_are_read_as_strictly_as_the_schema_says(setup, path, params, field):
    _, client, _ = setup
    assert_422(await client.raw("GET", path, params=params), field)


async def test_well_formed_query_parameters_still_work(setup):
    _, client, booking = setup
    listed = await client.raw("GET", "/api/v1/bookings", params={"from": "2020-01-01T00:00:00+05:30", "limit": "5"})
    assert listed.status == 200 and [b["id"] for b in listed.body["items"]] == [booking["id"]]
    assert (await client.raw("GET", "/api/v1/notifications", params={"unread": "true"})).status == 200
    assert (await client.raw("GET", "/api/v1/me/booking-feed", params={"after": "0"})).status == 200


async def test_a_parameter_given_twice_is_refused(setup):
    _, client, _ = setup
    assert_422(await client.raw("GET", "/api/v1/me/booking-feed?after=1&after=2"), "after")


@pytest.mark.parametrize("bad", ["\x00", "Yoga\r\nBcc: everyone@example.org", "Yoga\nclass", "Yoga\u202egnp.exe", "Tab\tbed"])
async def test_single_line_offering_names_refuse_control_characters(setup, bad):
    p, _, _ = setup
    base = {"duration_min": 60, "price_minor": 5000, "currency": "EUR", "mode": "video"}
    assert_422(await p.client.raw("POST", f"/api/v1/practitioners/{p.id}/offerings", json_body={**base, "name": bad}), "name")
    assert_422(await p.client.raw("PATCH", f"/api/v1/practitioners/{p.id}/offerings/{p.offering_id}",
                                  json_body={"name": bad}), "name")
    profile = await p.client.call("GET", f"/practitioners/{p.id}")
    assert [o["name"] for o in profile["offerings"]] == ["Hatha yoga"]


async def test_multi_line_texts_keep_newlines_and_refuse_nul(setup):
    p, client, _ = setup
    path = f"/api/v1/practitioners/{p.id}"
    assert_422(await p.client.raw("PUT", path, json_body={"bio": "Teacher\x00"}), "bio")
    assert_422(await p.client.raw("PATCH", f"{path}/offerings/{p.offering_id}", json_body={"description": "a\x07b"}),
               "description")
    saved = await p.client.raw("PUT", path, json_body={"bio": "Teacher.\n\n\tTwenty years."})
    assert saved.status == 200 and saved.body["bio"] == "Teacher.\n\n\tTwenty years."
    day = next_weekday_date(2)
    resp = await client.raw("POST", "/api/v1/bookings", headers={"Idempotency-Key": str(uuid.uuid4())},
                            json_body={"offering_id": p.offering_id, "start_at": f"{day}T12:00:00Z", "note": "\x00"})
    assert_422(resp, "note")


async def test_offerings_are_capped_per_practitioner(start_app, clients):
    app = await start_app(KLEAR_MAX_OFFERINGS="2")
    p = await make_practitioner(clients(app.url))
    offering = {"name": "Second", "duration_min": 30, "price_minor": 0, "currency": "EUR", "mode": "video"}
    second = await p.client.create_offering(p.id, **offering)
    path = f"/api/v1/practitioners/{p.id}/offerings"
    refused = await p.client.raw("POST", path, json_body={**offering, "name": "Third"})
    assert refused.status == 409
    assert assert_error_shape(refused.body, "too_many_offerings")["details"] == [{"limit": 2}]
    await p.client.call("PATCH", f"/practitioners/{p.id}/offerings/{second['id']}", json_body={"active": False})
    third = await p.client.create_offering(p.id, **{**offering, "name": "Third"})
    back = await p.client.raw("PATCH", f"{path}/{second['id']}", json_body={"active": True})
    assert back.status == 409
    assert_error_shape(back.body, "too_many_offerings")
    listed = await p.client.call("GET", "/practitioners")
    mine = next(item for item in listed["items"] if item["id"] == p.id)
    assert [o["id"] for o in mine["offerings"]] == [p.offering_id, third["id"]]


async def test_head_on_a_calendar_feed_answers_like_get_without_a_body(setup):
    _, client, _ = setup
    url = await client.calendar_feed_url()
    got = await client.raw("GET", url, auth=False)
    head = await client.raw("HEAD", url, auth=False)
    assert got.status == head.status == 200
    assert head.headers["Content-Type"].startswith("text/calendar") and head.raw == b""
    assert b"BEGIN:VCALENDAR" in got.raw
    unknown = await client.raw("HEAD", url.rsplit("/", 1)[0] + "/" + "x" * 43 + ".ics", auth=False)
    assert unknown.status == 404
