"""Access tokens: expired, forged, malformed and revoked tokens are refused with 401."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from klear_client import ApiError
from .conftest import signed_up
from .support.tokens import claims_of, resigned

pytestmark = pytest.mark.quick


async def _me_error(client, token: str | None) -> ApiError:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    resp = await client.raw("GET", "/api/v1/me", headers=headers, auth=False)
    assert resp.status == 401, resp.body
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    err = resp.body["error"]
    return ApiError(resp.status, err["code"], err["message"], err["details"], resp.headers)


async def test_expired_token_is_refused(app, clients, server_env):
    c = await signed_up(clients(app.url))
    expired = resigned(server_env, c.session, exp=int(time.time()) - 5)
    assert (await _me_error(c, expired)).code == "token_expired"


async def test_token_signed_with_another_key_is_refused(app, clients):
    c = await signed_up(clients(app.url))
    forged = jwt.encode(claims_of(c.session, role="admin"), b"k" * 32, algorithm="HS256")
    assert (await _me_error(c, forged)).code == "token_invalid"


async def test_unsigned_token_is_refused(app, clients):
    c = await signed_up(clients(app.url))
    unsigned = jwt.encode(claims_of(c.session), None, algorithm="none")
    assert (await _me_error(c, unsigned)).code == "token_invalid"


async def test_token_for_a_session_that_never_existed_is_refused(app, clients, server_env):
    c = await signed_up(clients(app.url))
    other_session = resigned(server_env, c.session, sid=str(uuid.uuid4()))
    assert (await _me_error(c, other_session)).code == "token_revoked"


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
async def test_missing_or_malformed_authorization_is_refused(app, clients, header):
    c = clients(app.url)
    resp = await c.raw("GET", "/api/v1/me", headers={"Authorization": header} if header else {}, auth=False)
    assert resp.status == 401
    assert resp.body["error"]["code"] in {"missing_token", "token_invalid"}
