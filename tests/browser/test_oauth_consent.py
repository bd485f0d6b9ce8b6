"""The OAuth code flow with PKCE through the consent screen in headless Chromium, then API calls with the app's
token. The app's redirect URI is a real server in the test, which the browser is sent back to.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from klear_client import ApiError, OAuthApp, pkce_pair

from ..conftest import PASSWORD, new_email
from ..support.tools import require
from .stepped import SteppedScript

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "oauth_consent.mjs"


@pytest.fixture
async def callback() -> AsyncIterator[str]:
    """The app's redirect URI: a page on loopback that says the app got its answer."""
    async def landed(_: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Back in the app</title><p>Done.</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/callback", landed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
    await runner.cleanup()


class Browser(SteppedScript):
    """oauth_consent.mjs in headless Chromium: it reports each step as a JSON line and waits for the test."""

    @classmethod
    async def start(cls, authorize_url: str, email: str, callback: str, profile: Path) -> Browser:
        missing = [what for what, ok in (("chromium at /usr/bin/chromium", Path("/usr/bin/chromium").exists()),
                                         ("node", shutil.which("node") is not None),
                                         ("tests/js/node_modules/playwright-core",
                                          (HERE.parent / "js" / "node_modules" / "playwright-core").exists())) if not ok]
        require(missing, "the browser consent test")
        proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), authorize_url, email, PASSWORD, callback, str(profile),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(proc, step_timeout=90)


async def test_an_app_gets_a_token_through_the_consent_screen_and_uses_it_within_its_scopes(
    app, clients, callback, tmp_path
):
    email = new_email("consent")
    person = clients(app.url)
    await person.register(email, PASSWORD, "Pat Practitioner", "practitioner", "Europe/London")
    record = await person.create_app("Practice Manager", [callback])
    oauth = OAuthApp(app.url, record["client_id"], record["client_secret"], http=person.http)
    verifier, challenge = pkce_pair()
    url = oauth.authorization_url(callback, ["bookings:read", "profile:read"], "st4te", challenge)

    browser = await Browser.start(url, email, callback, tmp_path / "profile")
    try:
        await _flow(browser, app, clients, person, oauth, callback, verifier)
    finally:
        await browser.close()


async def _flow(browser, app, clients, person, oauth, callback, verifier) -> None:
    result = await browser.next()
    assert result["app"] == "Practice Manager"
    assert result["scopes"] == ["See your bookings and follow their changes",
                                "See your name, email address and time zone, and others' public profiles"]
    back = {k: v[0] for k, v in parse_qs(urlsplit(str(result["url"])).query).items()}
    assert back["state"] == "st4te"

    tokens = await oauth.exchange_code(back["code"], callback, verifier)
    as_app = clients(app.url)
    as_app.session = type(person.session)(tokens.access_token, "", {})
    assert (await as_app.me())["display_name"] == "Pat Practitioner"
    assert (await as_app.bookings())["items"] == []
    with pytest.raises(ApiError) as err:
        await as_app.set_hours(person.session.user_id, [])
    assert err.value.code == "insufficient_scope"

    await browser.go_on()  # the person removes the app on the connected apps page: the token stops at once
    removed = await browser.next()
    assert removed["listed"] == result["scopes"]
    checked = removed["screens"]
    assert {(s["screen"], s["size"]) for s in checked} == {
        (screen, size) for screen in ("consent", "connected apps") for size in ("desktop", "phone")}
    assert [s for s in checked if s["violations"]] == [], "axe-core finds nothing on the consent or connected apps screens"
    with pytest.raises(ApiError) as err:
        await as_app.me()
    assert err.value.code == "token_revoked"
