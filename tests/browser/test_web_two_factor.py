"""Two-factor sign-in in the web app (tests/browser/two_factor.mjs): turned on in the account view with the
key it shows and a first code, ten recovery codes shown once; the next sign-in asks for a code and accepts
a fresh one.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import pyotp

from ..conftest import PASSWORD, signed_up
from .test_web_journey import HERE, require_browser


async def test_two_factor_sign_in_is_turned_on_in_the_account_view_and_then_asked_for(app, clients) -> None:
    user = await signed_up(clients(app.url), "client", name="Tia Totp")
    require_browser()
    proc = await asyncio.create_subprocess_exec(
        "node", str(HERE / "two_factor.mjs"), app.url, user.session.user["email"], PASSWORD,  # type: ignore[union-attr]
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None

    async def line() -> dict:  # type: ignore[type-arg]
        return json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))  # type: ignore[union-attr]

    async def send(text: str) -> None:
        proc.stdin.write(f"{text}\n".encode())  # type: ignore[union-attr]
        await proc.stdin.drain()  # type: ignore[union-attr]

    try:
        key = await line()
        assert key["event"] == "key", key
        totp = pyotp.TOTP(key["secret"])
        now = time.time()
        await send(totp.at(now))
        asked = await line()
        assert asked["event"] == "code_asked", asked
        await send(totp.at(now + 30))  # the next step: a code is good once, and one step either side
        finished = await line()
    finally:
        await asyncio.wait_for(proc.wait(), 30)
    assert finished["event"] == "finished", finished
    assert len(finished["codes"]) == 10
    assert "authenticator app" in finished["prompt"] and finished["focused"] == "signin-totp"
    assert [s for s in finished["screens"] if s["violations"]] == []
    assert finished["outside"] == [] and finished["console_errors"] == []
