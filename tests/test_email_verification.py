"""Email verification: the account owner asks for a confirmation email; its single-use link marks the
address confirmed."""

from __future__ import annotations

import re

import pytest

from klear_client import ApiError

from .conftest import signed_up
from .support.eventually import eventually

pytestmark = pytest.mark.quick


async def test_an_emailed_link_confirms_the_address_once(start_app, clients, mailbox):
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "practitioner", name="Vera Verify")
    email = user.session.user["email"]  # type: ignore[union-attr]
    assert await user.email_verification() == {"verified": False}
    assert await user.request_email_verification() == {"verified": False}

    async def link() -> str:
        found = [m for m in mailbox.to(email) if str(m["Subject"]) == "Confirm your email address for Klear Karma"]
        assert len(found) == 1
        match = re.search(rf"{re.escape(app.url)}/app/#verify=([A-Za-z0-9_-]+)", found[0].get_content())
        assert match
        return match.group(1)

    token = await eventually(link)
    with pytest.raises(ApiError) as wrong:
        await clients(app.url).verify_email("not-the-token-not-the-token")
    assert (wrong.value.status, wrong.value.code) == (400, "verify_token_invalid")
    await clients(app.url).verify_email(token)
    assert await user.email_verification() == {"verified": True}
    with pytest.raises(ApiError) as again:
        await clients(app.url).verify_email(token)
    assert again.value.code == "verify_token_invalid"
    assert await user.request_email_verification() == {"verified": True}  # nothing more is sent
