"""Forgot password in the web app (tests/browser/reset.mjs), against a local SMTP server: the page asks for
the email, the emailed link opens the page that sets a new password (the token leaves the address bar at
once), and the new password signs in.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import json
import re

from ..conftest import signed_up
from ..support.eventually import eventually
from .test_web_journey import HERE, require_browser

NEW_PASSWORD = "a brand new passphrase"


async def test_a_forgotten_password_is_reset_through_the_emailed_link(start_app, clients, mailbox) -> None:
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "client", name="Rita Reset")
    email = user.session.user["email"]  # type: ignore[union-attr]
    require_browser()
    proc = await asyncio.create_subprocess_exec("node", str(HERE / "reset.mjs"), app.url, email, NEW_PASSWORD,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        asked = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        assert asked["event"] == "asked", asked
        assert "If this address has an account" in asked["message"]

        async def mailed() -> str:
            found = [m for m in mailbox.to(email) if "Reset" in str(m["Subject"])]
            assert found
            link = re.search(r"http\S+#reset=\S+", found[0].get_content())
            assert link
            return link.group(0)

        proc.stdin.write((await eventually(mailed) + "\n").encode())
        await proc.stdin.drain()
        finished = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    finally:
        await asyncio.wait_for(proc.wait(), 30)
    assert finished["event"] == "finished", finished
    assert "#reset" not in finished["address_after_open"], "the token leaves the address bar"
    assert [s for s in finished["screens"] if s["violations"]] == []
    assert finished["outside"] == [] and finished["console_errors"] == []
