"""Bad input to the scheduler gets a clean error in the documented shape, with the right status."""

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
    """Two practitioners and a client on the module's app; each case only sends requests that are refused."""
    made = [KlearClient(shared_app.url) for _ in range(3)]
    p = await make_practitioner(made[0])
    other = await make_practitioner(made[1], name="Other Practitioner")
    client = await signed_up(made[2])
    yield p, other, client
    for c in made:
        await c.close()


def slots_path(pid: str) -> str:
    return f"/api/v1/practitioners/{pid}/slots"


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"tz": "Mars/Olympus_Mons"}, 422, "validation_failed", "tz"),
        ({"tz": "EST5EDT; DROP TABLE"}, 422, "validation_failed", "tz"),
        ({"from": "2027-02-10", "to": "2027-02-09"}, 422, "invalid_range", "to"),
        ({"from": "2027-02-10T10:00:00Z", "to": "2027-02-10T09:00:00Z"}, 422, "invalid_range", "to"),
        ({"from": "2027-02-01", "to": "2027-03-31"}, 422, "range_too_long", "to"),
        ({"from": "2027-02-10T10:00:00"}, 422, "validation_failed", "from"),  # no offset: ambiguous
        ({"from": "next tuesday"}, 422, "validation_failed", "from"),
        ({"offering": "not-a-uuid"}, 422, "validation_failed", "offering"),
        ({"offering": str(uuid.uuid4())}, 422, "unknown_offering", "offering"),
    ],
)
async def test_bad_slot_queries(setup, params, status, code, field):
    p, _, client = setup
    query = {"offering": p.offering_id, "from": "2027-02-10", "to": "2027-02-11", "tz": "Europe/London", **params}
    resp = await client.raw("GET", slots_path(p.id), params=query)
    assert resp.status == status, resp.body
    error = assert_error_shape(resp.body, code)
    assert any(d["loc"][-1] == field for d in error["details"]), error


async def test_another_practitioners_offering_is_not_theirs(setup):
    p, other, client = setup
    query = {"offering": other.offering_id, "from": "2027-02-10", "to": "2027-02-11", "tz": "UTC"}
    resp = await client.raw("GET", slots_path(p.id), params=query)
    assert resp.status == 422
    assert_error_shape(resp.body, "unknown_offering")
    patch = await p.client.raw("PATCH", f"/api/v1/practitioners/{p.id}/offerings/{other.offering_id}",
                               json_body={"name": "Mine now"})
    assert patch.status == 404
    assert_error_shape(patch.body, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/practitioners/{id}", "/api/v1/practitioners/{id}/slots?offering={o}&from=2027-02-10&to=2027-02-10&tz=UTC",
                                  "/api/v1/bookings/{id}", "/api/v1/bookings/{id}/events"])
@pytest.mark.parametrize("ident", ["00000000-0000-0000-0000-000000000000", "nope"])
async def test_unknown_ids_are_404(setup, path, ident):
    p, _, client = setup
    resp = await client.raw("GET", path.format(id=ident, o=p.offering_id))
    assert resp.status == 404
    assert_error_shape(resp.body, "not_found")


async def test_unknown_booking_actions_are_404(setup):
    _, _, client = setup
    for action in ("confirm", "cancel", "start"):
        resp = await client.raw("POST", f"/api/v1/bookings/{uuid.uuid4()}/{action}", json_body={} if action == "cancel" else None)
        assert resp.status == 404, action
        assert_error_shape(resp.body, "not_found")


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"start_at": "2027-02-10T10:00:00Z"}, {"Idempotency-Key": "a"}, 422, "validation_failed"),  # no offering
        ({"offering_id": "{o}", "start_at": "2027-02-10T10:00:00"}, {"Idempotency-Key": "a"}, 422, "validation_failed"),
        ({"offering_id": "{o}", "start_at": "{slot}"}, {}, 422, "validation_failed"),  # no Idempotency-Key
        ({"offering_id": "{o}", "start_at": "{slot}"}, {"Idempotency-Key": "x" * 201}, 422, "validation_failed"),
        ({"offering_id": str(uuid.uuid4()), "start_at": "{slot}"}, {"Idempotency-Key": "a"}, 422, "unknown_offering"),
        ({"offering_id": "{o}", "start_at": "{slot}", "extra": 1}, {"Idempotency-Key": "a"}, 422, "validation_failed"),
        ({"offering_id": "{o}", "start_at": "2020-01-01T10:00:00Z"}, {"Idempotency-Key": "a"}, 409, "slot_unavailable"),
        ({"offering_id": "{o}", "start_at": "{off_grid}"}, {"Idempotency-Key": "a"}, 409, "slot_unavailable"),
        ({"offering_id": "{o}", "start_at": "{night}"}, {"Idempotency-Key": "a"}, 409, "slot_unavailable"),
    ],
)
async def test_bad_bookings(setup, body, headers, status, code):
    p, _, client = setup
    day = next_weekday_date(3)
    values = {"o": p.offering_id, "slot": f"{day}T10:00:00Z", "off_grid": f"{day}T10:10:00Z", "night": f"{day}T03:00:00Z"}
    filled = {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}
    resp = await client.raw("POST", "/api/v1/bookings", json_body=filled, headers=headers)
    assert resp.status == status, resp.body
    assert_error_shape(resp.body, code)


async def test_practitioners_cannot_book_themselves(setup):
    p, _, _ = setup
    day = next_weekday_date(3)
    resp = await p.client.raw("POST", "/api/v1/bookings", json_body={"offering_id": p.offering_id,
                              "start_at": f"{day}T10:00:00Z"}, headers={"Idempotency-Key": "self"})
    assert resp.status == 422
    assert_error_shape(resp.body, "cannot_book_self")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weekly": [{"weekday": "funday", "start": "09:00", "end": "17:00"}]}, "weekday"),
        ({"weekly": [{"weekday": "monday", "start": "17:00", "end": "09:00"}]}, "weekly"),
        ({"weekly": [{"weekday": "monday", "start": "9am", "end": "17:00"}]}, "start"),
        ({"weekly": [{"weekday": "monday", "start": "09:00", "end": "24:30"}]}, "end"),
        ({"weekly": [], "overrides": [{"date": "2027-02-30", "kind": "day_off"}]}, "date"),
        ({"weekly": [], "overrides": [{"date": "2027-02-10", "kind": "extra_hours"}]}, "overrides"),
    ],
)
async def test_bad_hours(setup, body, field):
    p, _, _ = setup
    resp = await p.client.raw("PUT", f"/api/v1/practitioners/{p.id}/availability", json_body=body)
    assert resp.status == 422
    error = assert_error_shape(resp.body, "validation_failed")
    assert any(field in map(str, d["loc"]) for d in error["details"]), error


async def test_bad_profiles_offerings_and_time_off(setup):
    p, other, client = setup
    base = f"/api/v1/practitioners/{p.id}"
    cases = [
        ("PUT", base, {"time_zone": "Not/AZone"}, 422, "validation_failed"),
        ("PUT", base, {"modalities": ["astrology"]}, 422, "validation_failed"),
        ("PUT", base, {"booking_rules": {"slot_interval_min": 1}}, 422, "validation_failed"),
        ("POST", f"{base}/offerings", {"name": "Reiki", "duration_min": 60, "price_minor": 100, "currency": "eur",
                                       "mode": "video"}, 422, "validation_failed"),
        ("POST", f"{base}/offerings", {"name": "Reiki", "duration_min": 60, "price_minor": 100, "currency": "EUR",
                                       "mode": "in_person"}, 422, "validation_failed"),  # no address
        ("POST", f"{base}/time-off", {"starts_at": "2027-02-10T10:00:00Z", "ends_at": "2027-02-10T09:00:00Z"}, 422,
         "validation_failed"),
        ("DELETE", f"{base}/time-off/{uuid.uuid4()}", None, 404, "not_found"),
    ]
    for method, path, body, status, code in cases:
        resp = await p.client.raw(method, path, json_body=body)
        assert resp.status == status, (path, body, resp.body)
        assert_error_shape(resp.body, code)
    # Someone else's profile, or a client's, cannot be edited.
    for who, path in ((client, base), (other.client, base), (client, f"/api/v1/practitioners/{client.session.user_id}")):
        resp = await who.raw("PUT", path, json_body={"bio": "mine"})
        assert resp.status == 403
        assert_error_shape(resp.body, resp.body["error"]["code"])
