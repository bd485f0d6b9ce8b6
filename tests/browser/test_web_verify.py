"""Email verification in the web app (tests/browser/verify.mjs), against a local SMTP server: the account
view sends a confirmation link, and opening it confirms the address (the token leaves the address bar).

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

from ..conftest import PASSWORD, signed_up
from .mailed_link import run_with_mailed_link
from .test_web_journey import HERE, require_browser


async def test_the_account_view_sends_a_confirmation_link_that_confirms_the_address(start_app, clients, mailbox) -> None:
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "client", name="Vera Verify")
    email = user.session.user["email"]  # type: ignore[union-attr]
    require_browser()
    _, finished = await run_with_mailed_link(HERE / "verify.mjs", [app.url, email, PASSWORD], mailbox, email,
                                             subject="Confirm your email", fragment="verify")
    assert finished["event"] == "finished", finished
    assert "#verify" not in finished["address"]
    assert await user.email_verification() == {"verified": True}
    assert [s for s in finished["screens"] if s["violations"]] == []
    assert finished["outside"] == [] and finished["console_errors"] == []
