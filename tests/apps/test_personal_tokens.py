"""Personal access tokens: scoped, shown once, stored as a hash, last use recorded, listed, revoked at once."""

from __future__ import annotations

import asyncpg
import pytest

from klear_client import ApiError

from ..conftest import signed_up
from .conftest import as_token

pytestmark = pytest.mark.quick


async def test_a_token_is_shown_once_limited_to_its_scopes_and_revoked_at_once(app, clients):
    person = await signed_up(clients(app.url), "practitioner")
    made = await person.create_token("nightly export", ["bookings:read", "profile:read"], expires_in_days=30)
    assert made["token"].startswith("klear_pat_") and made["last_used_at"] is None
    [listed] = await person.tokens()
    assert "token" not in listed and listed["name"] == "nightly export"
    assert listed["scopes"] == ["bookings:read", "profile:read"]

    script = as_token(person, made["token"])
    assert (await script.me())["id"] == person.session.user_id
    await script.bookings()
    [used] = await person.tokens()
    assert used["last_used_at"] is not None
    for denied in (script.update_me(display_name="Scripted"), script.create_token("more", ["bookings:write"])):
        with pytest.raises(ApiError) as err:
            await denied
        assert (err.value.status, err.value.code) == (403, "insufficient_scope")

    conn = await asyncpg.connect(app.settings.storage.database_url)
    try:
        stored = await conn.fetchval("SELECT token_hash FROM auth_sessions WHERE id = $1", made["id"])
        assert stored is not None and made["token"].encode() not in bytes(stored)
    finally:
        await conn.close()

    await person.revoke_token(made["id"])
    with pytest.raises(ApiError) as err:
        await script.me()
    assert (err.value.status, err.value.code) == (401, "token_revoked")
    assert await person.tokens() == []
    with pytest.raises(ApiError) as err:
        await person.revoke_token(made["id"])
    assert err.value.status == 404


async def test_bad_token_requests_get_clear_errors(app, clients):
    person = await signed_up(clients(app.url))
    for body in ({"name": "x", "scopes": []}, {"name": "x", "scopes": ["records:read"]},
                 {"name": "", "scopes": ["profile:read"]}, {"name": "x", "scopes": ["profile:read"], "expires_in_days": 0}):
        resp = await person.raw("POST", "/api/v1/me/tokens", json_body=body)
        assert (resp.status, resp.body["error"]["code"]) == (422, "validation_failed"), body
    other = await signed_up(clients(app.url))
    made = await person.create_token("mine", ["profile:read"])
    with pytest.raises(ApiError) as err:
        await other.revoke_token(made["id"])
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        await as_token(person, "klear_pat_" + "x" * 43).me()
    assert err.value.code == "token_revoked"
