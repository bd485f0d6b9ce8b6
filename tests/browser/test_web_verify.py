"""Email verification in the web app (tests/browser/verify.mjs), against a local SMTP server: the account
view sends a confirmation link, and opening it confirms the address (the token leaves the address bar).

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import json
import re

from ..conftest import PASSWORD, signed_up
from ..support.eventually import eventually
from .test_web_journey import HERE, require_browser


async def test_the_account_view_sends_a_confirmation_link_that_confirms_the_address(start_app, clients, mailbox) -> None:
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "client", name="Vera Verify")
    email = user.session.user["email"]  # type: ignore[union-attr]
    require_browser()
    proc = await asyncio.create_subprocess_exec("node", str(HERE / "verify.mjs"), app.url, email, PASSWORD,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        asked = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        assert asked["event"] == "asked", asked

        async def mailed() -> str:
            found = [m for m in mailbox.to(email) if "Confirm your email" in str(m["Subject"])]
            assert found
            link = re.search(r"http\S+#verify=\S+", found[0].get_content())
            assert link
            return link.group(0)

        proc.stdin.write((await eventually(mailed) + "\n").encode())
        await proc.stdin.drain()
        finished = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    finally:
        await asyncio.wait_for(proc.wait(), 30)
    assert finished["event"] == "finished", finished
    assert "#verify" not in finished["address"]
    assert await user.email_verification() == {"verified": True}
    assert [s for s in finished["screens"] if s["violations"]] == []
    assert finished["outside"] == [] and finished["console_errors"] == []
