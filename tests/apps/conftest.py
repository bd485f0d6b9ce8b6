"""Fixtures of the app tests: a practitioner with an app registered, and an app's OAuth side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from klear_client import AppTokens, KlearClient, OAuthApp, Session, pkce_pair

from .receiver import Receiver

REDIRECT = "http://127.0.0.1:9/callback"  # an app on this machine (RFC 8252); nothing listens: the test reads the URL


@dataclass
class Registered:
    """An app registered by `owner`, and its OAuth side."""

    owner: KlearClient
    record: dict[str, object]
    oauth: OAuthApp


async def register_app(owner: KlearClient, **options: object) -> Registered:
    record = await owner.create_app("Practice Manager", [REDIRECT], **options)
    oauth = OAuthApp(owner.base_url, str(record["client_id"]), record.get("client_secret"), http=owner.http)  # type: ignore[arg-type]
    return Registered(owner, record, oauth)


def authorization_params(app: OAuthApp, scopes: list[str], challenge: str, state: str = "xyz") -> dict[str, str]:
    """The query an app sends the browser to the consent screen with."""
    query = urlsplit(app.authorization_url(REDIRECT, scopes, state, challenge)).query
    return {k: v[0] for k, v in parse_qs(query).items()}


def redirect_params(url: str) -> dict[str, str]:
    assert url.startswith(REDIRECT), url
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def authorised(person: KlearClient, app: OAuthApp, scopes: list[str]) -> AppTokens:
    """`person` consents to `app` asking for `scopes`; the app exchanges the code with its PKCE verifier."""
    verifier, challenge = pkce_pair()
    back = redirect_params(await person.answer_authorization(authorization_params(app, scopes, challenge), allow=True))
    assert back["state"] == "xyz"
    return await app.exchange_code(back["code"], REDIRECT, verifier)


def as_token(base: KlearClient, token: str) -> KlearClient:
    """A client on the same server that sends `token` (an app's, or a personal access token)."""
    other = KlearClient(base.base_url, session=base.http)
    other.session = Session(token, "", {})
    return other


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback for this test."""
    r = await Receiver().start()
    yield r
    await r.stop()


# Settings of an app that delivers webhooks to a receiver on this machine, retrying within a second.
WEBHOOKS = {"KLEAR_WEBHOOK_ALLOW_LOOPBACK": "true", "KLEAR_WEBHOOK_RETRY_BASE": "0.05"}
