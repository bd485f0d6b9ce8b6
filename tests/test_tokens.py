"""Access tokens: expired, forged, malformed and revoked tokens are refused with 401."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest

from klear_client import ApiError
from .conftest import signed_up
from .support.tokens import claims_of, resigned


async def _me_error(client, token: str | None) -> ApiError:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    resp = await client.raw("GET", "/api/v1/me", headers=headers, auth=False)
    assert resp.status == 401, resp.body
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    err = resp.body["error"]
    return ApiError(resp.status, err["code"], err["message"], err["details"], resp.headers)


async def test_expired_token_is_refused(server, clients, server_env):
    c = await signed_up(clients(server.url))
    expired = resigned(server_env, c.session, exp=int(time.time()) - 5)
    assert (await _me_error(c, expired)).code == "token_expired"


async def test_token_signed_with_another_key_is_refused(server, clients):
    c = await signed_up(clients(server.url))
    forged = jwt.encode(claims_of(c.session, role="admin"), b"k" * 32, algorithm="HS256")
    assert (await _me_error(c, forged)).code == "token_invalid"


async def test_unsigned_token_is_refused(server, clients):
    c = await signed_up(clients(server.url))
    unsigned = jwt.encode(claims_of(c.session), None, algorithm="none")
    assert (await _me_error(c, unsigned)).code == "token_invalid"


async def test_token_for_a_session_that_never_existed_is_refused(server, clients, server_env):
    c = await signed_up(clients(server.url))
    other_session = resigned(server_env, c.session, sid=str(uuid.uuid4()))
    assert (await _me_error(c, other_session)).code == "token_revoked"


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
async def test_missing_or_malformed_authorization_is_refused(server, clients, header):
    c = clients(server.url)
    resp = await c.raw("GET", "/api/v1/me", headers={"Authorization": header} if header else {}, auth=False)
    assert resp.status == 401
    assert resp.body["error"]["code"] in {"missing_token", "token_invalid"}


async def test_logout_on_one_process_is_honoured_by_another(start_server, clients, redis_env):
    a = await start_server(**redis_env)
    b = await start_server(**redis_env)
    c = await signed_up(clients(a.url))
    on_b = clients(b.url)
    on_b.session = c.session
    assert (await on_b.me())["id"] == c.session.user_id  # b now caches the live session
    await c.logout()
    deadline = time.monotonic() + 2
    while True:
        resp = await on_b.raw("GET", "/api/v1/me")
        if resp.status == 401 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert resp.status == 401 and resp.body["error"]["code"] == "token_revoked"
