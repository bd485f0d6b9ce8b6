"""Password reset by email: a single-use, expiring link; choosing a new password signs the account out
everywhere; an address without an account gets the same answer and no email."""

from __future__ import annotations

import re

import asyncpg
import pytest

from klear_client import ApiError

from .conftest import PASSWORD, new_email, signed_up
from .support.eventually import eventually

pytestmark = pytest.mark.quick

NEW_PASSWORD = "a brand new passphrase"


def token_in(message) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r"/app/#reset=([A-Za-z0-9_-]+)", message.get_content())
    assert found, message.get_content()
    return found.group(1)


async def test_a_reset_link_sets_a_new_password_once_and_signs_out_every_session(start_app, clients, mailbox):
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "client", name="Rita Reset")
    email = user.session.user["email"]  # type: ignore[union-attr]
    other_device = clients(app.url)
    await other_device.login(email, PASSWORD)

    anonymous = clients(app.url)
    await anonymous.request_password_reset(email)
    await anonymous.request_password_reset(new_email("nobody"))  # no account: same answer, no email

    async def mailed() -> None:
        assert [str(m["Subject"]) for m in mailbox.to(email)] == ["Reset your Klear Karma password"]

    await eventually(mailed)
    message = mailbox.to(email)[0]
    assert f"{app.url}/app/#reset=" in message.get_content(), "the link opens the web app on this server"
    token = token_in(message)

    with pytest.raises(ApiError) as weak:
        await anonymous.reset_password(token, "short")
    assert (weak.value.status, weak.value.code) == (422, "validation_failed")
    await anonymous.reset_password(token, NEW_PASSWORD)

    for device in (user, other_device):  # signed out everywhere
        with pytest.raises(ApiError) as gone:
            await device.refresh()
        assert (gone.value.status, gone.value.code) == (401, "token_revoked")
    with pytest.raises(ApiError) as old:
        await clients(app.url).login(email, PASSWORD)
    assert old.value.code == "invalid_credentials"
    await clients(app.url).login(email, NEW_PASSWORD)

    with pytest.raises(ApiError) as again:
        await anonymous.reset_password(token, "yet another passphrase")
    assert (again.value.status, again.value.code) == (400, "reset_token_invalid")
    assert len(mailbox.messages) == 1


async def test_an_expired_or_made_up_reset_token_is_refused(start_app, clients, mailbox, database_url):
    app = await start_app(**mailbox.env)
    user = await signed_up(clients(app.url), "practitioner")
    email = user.session.user["email"]  # type: ignore[union-attr]
    await clients(app.url).request_password_reset(email)
    await eventually(lambda: _one(mailbox.to(email)))
    token = token_in(mailbox.to(email)[0])
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    for attempt in (token, "made-up-token-made-up-token"):
        with pytest.raises(ApiError) as refused:
            await clients(app.url).reset_password(attempt, NEW_PASSWORD)
        assert (refused.value.status, refused.value.code) == (400, "reset_token_invalid")
    await clients(app.url).login(email, PASSWORD)  # unchanged


async def _one(messages: list) -> None:  # type: ignore[type-arg]
    assert len(messages) == 1
