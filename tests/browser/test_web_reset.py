"""Forgot password in the web app (tests/browser/reset.mjs), against a local SMTP server: the page asks for
the email, the emailed link opens the page that sets a new password (the token leaves the address bar at
once), and the new password signs in.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

from ..conftest import signed_up
from .mailed_link import run_with_mailed_link
from .test_web_journey import HERE, require_browser

NEW_PASSWORD = "a brand new passphrase"


async def test_a_forgotten_password_is_reset_through_the_emailed_link(start_app, clients, mailbox) -> None:
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "client", name="Rita Reset")
    email = user.session.user["email"]  # type: ignore[union-attr]
    require_browser()
    asked, finished = await run_with_mailed_link(HERE / "reset.mjs", [app.url, email, NEW_PASSWORD], mailbox, email,
                                                 subject="Reset", fragment="reset")
    assert "If this address has an account" in asked["message"]
    assert finished["event"] == "finished", finished
    assert "#reset" not in finished["address_after_open"], "the token leaves the address bar"
    assert [s for s in finished["screens"] if s["violations"]] == []
    assert finished["outside"] == [] and finished["console_errors"] == []
