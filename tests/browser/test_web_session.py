"""The web app's session (tests/browser/session.mjs): one sign-in is shared by the tabs of a browser, and an
expired refresh token sends every tab back to sign-in with the reason after at most a handful of refresh
calls, where the page used to retry about 53 times a second forever.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import json

import asyncpg

from ..conftest import PASSWORD, signed_up
from .test_web_journey import HERE, require_browser


async def test_an_expired_refresh_token_returns_every_tab_to_sign_in_after_a_few_refresh_calls(
    start_app, clients, database_url
) -> None:
    app = await start_app(KLEAR_ACCESS_TOKEN_TTL="10")  # the socket is told to refresh after 5 s
    user = await signed_up(clients(app.url), "client", name="Sam Session")
    require_browser()
    proc = await asyncio.create_subprocess_exec(
        "node", str(HERE / "session.mjs"), app.url, user.session.user["email"], PASSWORD,  # type: ignore[union-attr]
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        assert line == {"event": "signed_in", "tabs": 2}, line
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        finally:
            await conn.close()
        proc.stdin.write(b"expire\n")
        await proc.stdin.drain()
        line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
    finally:
        if proc.returncode is None:
            await asyncio.wait_for(proc.wait(), 30)
    assert line["event"] == "finished", line
    assert 1 <= line["refreshes"] <= 3, line
    assert line["reason"] == "Your session has expired. Please sign in again."
    assert line["second_reason"] == line["reason"], "the other tab is signed out too, with the same reason"
    assert line["outside"] == [] and line["console_errors"] == []
