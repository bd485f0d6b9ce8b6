"""Bad input gets a clear error in the documented shape, and nothing stored is harmed."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, new_email, signed_up

pytestmark = pytest.mark.quick


@pytest.fixture
def app(shared_app):
    """One app for the module: every case here adds at most its own account."""
    return shared_app

VALID = {"password": PASSWORD, "display_name": "Valid Name", "role": "client", "time_zone": "Europe/London"}


def assert_error_shape(body: dict, code: str) -> dict:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    return body["error"]


async def _register_raw(client, **kwargs):
    return await client.raw("POST", "/api/v1/auth/register", **kwargs)


@pytest.mark.parametrize("payload", [b"{", b"not json", b'{"email": }', b"", b"\xff\xfe"])
async def test_malformed_json_is_400_invalid_json(app, clients, payload):
    resp = await _register_raw(clients(app.url), data=payload, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert_error_shape(resp.body, "invalid_json")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": 42}, "email"),
        ({"password": ["a list"]}, "password"),
        ({"role": True}, "role"),
        ({"display_name": None}, "display_name"),
        ({"time_zone": 5.5}, "time_zone"),
    ],
)
async def test_wrong_types_are_422_with_the_field_named(app, clients, change, field):
    body = {"email": new_email(), **VALID, **change}
    resp = await _register_raw(clients(app.url), json_body=body)
    assert resp.status == 422
    error = assert_error_shape(resp.body, "validation_failed")
    assert ["body", field] in [d["loc"] for d in error["details"]]


async def test_missing_fields_are_each_listed(app, clients):
    resp = await _register_raw(clients(app.url), json_body={"email": new_email()})
    error = assert_error_shape(resp.body, "validation_failed")
    missing = {tuple(d["loc"]) for d in error["details"] if d["type"] == "missing"}
    assert missing == {("body", "password"), ("body", "display_name"), ("body", "role"), ("body", "time_zone")}


@pytest.mark.parametrize("email", ["no-at-sign", "a@b", "a@@b.com", "spaces in@x.org", "x" * 250 + "@example.org"])
async def test_invalid_email_is_422(app, clients, email):
    resp = await _register_raw(clients(app.url), json_body={"email": email, **VALID})
    assert resp.status == 422
    assert ["body", "email"] in [d["loc"] for d in resp.body["error"]["details"]]


@pytest.mark.parametrize("tz", ["Mars/Base", "EST5EDT6", "", "europe/london"])
async def test_unknown_time_zone_is_422(app, clients, tz):
    resp = await _register_raw(clients(app.url), json_body={"email": new_email(), **VALID, "time_zone": tz})
    assert resp.status == 422
    assert ["body", "time_zone"] in [d["loc"] for d in resp.body["error"]["details"]]


async def test_admin_role_cannot_be_self_assigned(app, clients):
    resp = await _register_raw(clients(app.url), json_body={"email": new_email(), **VALID, "role": "admin"})
    assert resp.status == 422


async def test_unknown_fields_are_refused(app, clients):
    resp = await _register_raw(clients(app.url), json_body={"email": new_email(), **VALID, "is_admin": True})
    assert resp.status == 422
    assert ["body", "is_admin"] in [d["loc"] for d in resp.body["error"]["details"]]


async def test_short_password_is_refused(app, clients):
    resp = await _register_raw(clients(app.url), json_body={"email": new_email(), **VALID, "password": "short"})
    assert resp.status == 422


async def test_body_over_one_mebibyte_is_413(app, clients):
    big = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    resp = await _register_raw(clients(app.url), data=big, headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert_error_shape(resp.body, "payload_too_large")


async def test_unknown_route_has_the_error_shape(app, clients):
    resp = await clients(app.url).raw("GET", "/api/v1/no/such/thing")
    assert resp.status == 404
    assert_error_shape(resp.body, "not_found")


async def test_wrong_method_is_405_with_allow(app, clients):
    resp = await clients(app.url).raw("DELETE", "/api/v1/auth/login")
    assert resp.status == 405
    assert_error_shape(resp.body, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]


async def test_unknown_user_id_is_404_and_malformed_id_too(app, clients):
    c = await signed_up(clients(app.url))
    for user_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        resp = await c.raw("GET", f"/api/v1/users/{user_id}")
        assert resp.status == 404
        assert_error_shape(resp.body, "not_found")


async def test_bad_requests_leave_the_account_intact(app, clients):
    c = await signed_up(clients(app.url), tz="Asia/Tokyo")
    before = await c.me()
    for payload in (b"{", b'{"display_name": 3}', b'{"time_zone": "Nowhere"}', b"{}", b'{"display_name": "\\u0000"}'):
        resp = await c.raw("PATCH", "/api/v1/me", data=payload, headers={"Content-Type": "application/json"})
        assert resp.status in (400, 422)
    assert await c.me() == before
