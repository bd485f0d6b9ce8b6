"""Processes sharing one Redis share what guards accounts: login throttles and revoked sessions."""

from __future__ import annotations

import pytest

from klear_client import ApiError

from .conftest import PASSWORD, signed_up
from .support.eventually import eventually

pytestmark = pytest.mark.redis


async def test_login_throttle_is_shared_by_processes_through_redis(start_server, clients, redis_env):
    a = await start_server(KLEAR_LOGIN_RATE_ACCOUNT_IP="2/300", **redis_env)
    b = await start_server(KLEAR_LOGIN_RATE_ACCOUNT_IP="2/300", **redis_env)
    c = await signed_up(clients(a.url))
    email = c.session.user["email"]
    for server in (a, b):  # one wrong guess on each process, from the same client
        with pytest.raises(ApiError) as wrong:
            await clients(server.url).login(email, "not the password")
        assert wrong.value.code == "invalid_credentials"
    with pytest.raises(ApiError) as err:
        await clients(a.url).login(email, PASSWORD)
    assert err.value.status == 429


async def test_logout_on_one_process_is_honoured_by_another(start_server, clients, redis_env):
    a = await start_server(**redis_env)
    b = await start_server(**redis_env)
    c = await signed_up(clients(a.url))
    on_b = clients(b.url)
    on_b.session = c.session
    assert (await on_b.me())["id"] == c.session.user_id  # b now caches the live session
    await c.logout()

    async def refused_on_b() -> None:
        resp = await on_b.raw("GET", "/api/v1/me")
        assert (resp.status, (resp.body or {}).get("error", {}).get("code")) == (401, "token_revoked"), resp.body

    await eventually(refused_on_b, timeout=2)
