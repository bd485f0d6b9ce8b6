"""Socket authentication: refused without a valid token, re-authenticated before expiry, dropped when revoked."""

from __future__ import annotations

import asyncio
import signal
import time

from datetime import datetime

import jwt
import pytest

from klear_client import ApiError, KlearClient, Realtime
from ..conftest import signed_up
from ..support.tokens import resigned


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda env, s: None, "missing_token"),
        (lambda env, s: "not-a-token", "token_invalid"),
        (lambda env, s: jwt.encode({"sub": s.user_id}, b"x" * 32, algorithm="HS256"), "token_invalid"),
        (lambda env, s: resigned(env, s, exp=int(time.time()) - 1), "token_expired"),
    ],
)
async def test_connect_is_refused_with_a_clear_code(server, clients, server_env, make_token, code):
    c = await signed_up(clients(server.url))
    token = make_token(server_env, c.session)
    rt = Realtime(c, reconnect=False)
    rt._auth = (lambda: {}) if token is None else (lambda: {"token": token})  # type: ignore[method-assign]
    with pytest.raises(ApiError) as err:
        await rt.connect()
    assert err.value.code == code
    await rt.close()


async def test_socket_is_disconnected_with_a_reason_when_its_token_expires(start_server, clients, realtime):
    server = await start_server(KLEAR_ACCESS_TOKEN_TTL="10")
    stale = await signed_up(clients(server.url))
    fresh = await signed_up(clients(server.url))
    r_stale = Realtime(stale, reconnect=False, auto_refresh=False)
    await r_stale.connect()
    r_fresh = await realtime(fresh)  # the SDK refreshes when told auth:expiring
    warned = await r_stale.next_event("auth:expiring", timeout=8)
    assert warned["expires_at"].endswith("Z")  # ISO 8601 UTC, as every time in the API
    assert datetime.fromisoformat(warned["expires_at"]).timestamp() > time.time()
    expired = await r_stale.next_event("auth:expired", timeout=8)
    assert expired["code"] == "token_expired"
    await r_stale.next_event("disconnect", timeout=5)
    assert r_fresh.sio.connected
    await asyncio.sleep(1)
    assert r_fresh.sio.connected  # refreshed via auth:refresh, so still here past the first expiry
    await r_stale.close()


async def test_auth_refresh_moves_the_socket_to_the_new_tokens_expiry(server, clients, realtime):
    user = await signed_up(clients(server.url))
    rt = await realtime(user)
    await user.refresh()
    ack = await rt.call("auth:refresh", {"token": user.session.access_token})
    claims = jwt.decode(user.session.access_token, options={"verify_signature": False})
    assert datetime.fromisoformat(ack["expires_at"]).timestamp() == claims["exp"]
    assert ack["expires_at"].endswith("Z")


async def test_auth_refresh_refuses_another_users_token(server, clients, realtime):
    a = await signed_up(clients(server.url))
    b = await signed_up(clients(server.url))
    ra = await realtime(a)
    ack = await ra.sio.call("auth:refresh", {"token": b.session.access_token})
    assert ack["ok"] is False and ack["error"]["code"] == "wrong_user"


async def test_logout_disconnects_the_sessions_sockets_on_every_process(start_server, redis_env, clients):
    a = await start_server(**redis_env)
    b = await start_server(**redis_env)
    user = await signed_up(clients(a.url))
    on_b = KlearClient(b.url)
    on_b.session = user.session
    rt = Realtime(on_b, reconnect=False)
    await rt.connect()
    try:
        await user.logout()
        revoked = await rt.next_event("auth:expired", timeout=5)
        assert revoked["code"] == "token_revoked"
        await rt.next_event("disconnect", timeout=5)
    finally:
        await rt.close()
        await on_b.close()


async def test_sigterm_tells_sockets_why_and_exits_promptly(server, clients):
    user = await signed_up(clients(server.url))
    rt = Realtime(user, reconnect=False)
    await rt.connect()
    try:
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        goodbye = await rt.next_event("server:disconnect", timeout=5)
        assert goodbye["code"] == "server_shutdown"
        assert await server.stop() == 0
        assert time.monotonic() - started < 3
    finally:
        await rt.close()
