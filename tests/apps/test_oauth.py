"""OAuth 2.0 for apps: the code flow with PKCE, scopes, refresh rotation, client credentials, revocation, errors."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from klear_client import ApiError, OAuthError, pkce_pair

from ..conftest import signed_up
from ..scheduler.conftest import make_practitioner, next_weekday_date
from .conftest import REDIRECT, as_token, authorised, authorization_params, redirect_params, register_app

pytestmark = pytest.mark.quick


async def _booked(app, clients, practitioner=None):
    """A client's booking with a practitioner (a new one unless given)."""
    p = practitioner or await make_practitioner(clients(app.url))
    client = await signed_up(clients(app.url))
    day = next_weekday_date(3)
    start = (await client.slots(p.id, p.offering_id, day, day, "UTC"))["slots"][0]["start"]
    return p, await client.book(p.offering_id, start)


async def test_code_flow_gives_a_token_limited_to_its_scopes(app, clients):
    p, booking = await _booked(app, clients)
    registered = await register_app(p.client)
    consent = await p.client.authorization_request(
        authorization_params(registered.oauth, ["bookings:read", "profile:read"], pkce_pair()[1]))
    assert consent["app"]["name"] == "Practice Manager"
    assert [s["description"] for s in consent["scopes"]] == [
        "See your bookings and follow their changes",
        "See your name, email address and time zone, and others' public profiles"]

    tokens = await authorised(p.client, registered.oauth, ["bookings:read", "profile:read"])
    assert tokens.scope == ["bookings:read", "profile:read"] and tokens.refresh_token
    as_app = as_token(p.client, tokens.access_token)
    assert (await as_app.me())["id"] == p.id
    assert [b["id"] for b in (await as_app.bookings())["items"]] == [booking["id"]]
    for denied in (as_app.booking_action(booking["id"], "cancel", "no"), as_app.set_hours(p.id, []),
                   as_app.create_token("sneaky", ["bookings:write"]), as_app.connected_apps()):
        with pytest.raises(ApiError) as err:
            await denied
        assert (err.value.status, err.value.code) == (403, "insufficient_scope")
    assert (await p.client.booking(booking["id"]))["status"] == "confirmed"


async def test_an_app_sees_only_the_bookings_of_who_authorised_it(app, clients):
    p1 = await make_practitioner(clients(app.url))
    _, theirs = await _booked(app, clients)
    registered = await register_app(p1.client)
    as_app = as_token(p1.client, (await authorised(p1.client, registered.oauth, ["bookings:read"])).access_token)
    assert (await as_app.bookings())["items"] == []
    with pytest.raises(ApiError) as err:
        await as_app.booking(theirs["id"])
    assert err.value.status == 404


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_grant(app, clients):
    owner = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(owner)
    first = await authorised(owner, registered.oauth, ["profile:read"])
    second = await registered.oauth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert (await as_token(owner, second.access_token).me())["id"] == owner.session.user_id
    narrowed = await registered.oauth.refresh(second.refresh_token, ["profile:read"])
    with pytest.raises(OAuthError) as err:
        await registered.oauth.refresh(narrowed.refresh_token, ["bookings:read"])
    assert err.value.error == "invalid_scope"
    with pytest.raises(OAuthError) as err:
        await registered.oauth.refresh(first.refresh_token)
    assert err.value.error == "invalid_grant"
    with pytest.raises(ApiError) as gone:
        await as_token(owner, narrowed.access_token).me()
    assert (gone.value.status, gone.value.code) == (401, "token_revoked")
    # a person's refresh endpoint takes no app's refresh token, and the token endpoint no person's
    with pytest.raises(ApiError):
        await owner.call("POST", "/auth/refresh", auth=False, json_body={"refresh_token": narrowed.refresh_token})
    with pytest.raises(OAuthError) as err:
        await registered.oauth.refresh(owner.session.refresh_token)
    assert err.value.error == "invalid_grant"


async def test_client_credentials_act_for_the_owner_only(app, clients):
    owner = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(owner)
    tokens = await registered.oauth.client_credentials(["profile:read"])
    assert tokens.refresh_token is None and tokens.scope == ["profile:read"]
    assert (await as_token(owner, tokens.access_token).me())["id"] == owner.session.user_id
    public = await register_app(owner, confidential=False)
    assert public.record["client_secret"] is None
    with pytest.raises(OAuthError) as err:
        await public.oauth.client_credentials()
    assert err.value.error == "unauthorized_client"
    registered.oauth.client_secret = "klear_secret_wrong"
    with pytest.raises(OAuthError) as err:
        await registered.oauth.client_credentials()
    assert (err.value.status, err.value.error) == (401, "invalid_client")


async def test_a_public_app_uses_pkce_alone(app, clients):
    owner = await signed_up(clients(app.url), "practitioner")
    public = await register_app(owner, confidential=False)
    tokens = await authorised(owner, public.oauth, ["bookings:read"])
    assert (await public.oauth.introspect(tokens.access_token))["active"] is True


async def test_revocation_by_the_person_and_by_the_app_is_immediate(app, clients):
    person = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(person)
    tokens = await authorised(person, registered.oauth, ["profile:read", "bookings:read"])
    as_app = as_token(person, tokens.access_token)
    await as_app.me()
    intro = await registered.oauth.introspect(tokens.access_token)
    assert intro["active"] is True and intro["scope"] == "bookings:read profile:read"
    assert intro["sub"] == person.session.user_id and intro["client_id"] == registered.record["client_id"]
    [connected] = await person.connected_apps()
    assert connected["app_id"] == registered.record["id"]
    assert {s["name"] for s in connected["scopes"]} == {"profile:read", "bookings:read"}
    await authorised(person, registered.oauth, ["bookings:write"])  # a second grant, other scopes: one app listed
    [connected] = await person.connected_apps()
    assert [s["name"] for s in connected["scopes"]] == ["bookings:read", "bookings:write", "profile:read"]
    await person.disconnect_app(connected["app_id"])
    with pytest.raises(ApiError) as err:
        await as_app.me()
    assert (err.value.status, err.value.code) == (401, "token_revoked")
    assert await person.connected_apps() == []
    assert (await registered.oauth.introspect(tokens.access_token)) == {"active": False}
    with pytest.raises(OAuthError):
        await registered.oauth.refresh(tokens.refresh_token)

    again = await authorised(person, registered.oauth, ["profile:read"])
    await registered.oauth.revoke(again.refresh_token)
    with pytest.raises(ApiError) as err:
        await as_token(person, again.access_token).me()
    assert err.value.code == "token_revoked"
    other = await register_app(await signed_up(clients(app.url), "practitioner"))
    third = await authorised(person, registered.oauth, ["profile:read"])
    await other.oauth.revoke(third.access_token)  # not its token: nothing happens (RFC 7009 answers 200 anyway)
    assert (await other.oauth.introspect(third.access_token)) == {"active": False}
    await as_token(person, third.access_token).me()


async def test_authorization_errors_carry_the_names_the_spec_gives_them(app, clients):
    person = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(person)
    _, challenge = pkce_pair()
    params = authorization_params(registered.oauth, ["bookings:read"], challenge, state="s1")

    async def refused(changes: dict[str, str | None]) -> ApiError:
        asked = {k: v for k, v in {**params, **changes}.items() if v is not None}
        with pytest.raises(ApiError) as err:
            await person.authorization_request(asked)
        with pytest.raises(ApiError) as again:
            await person.answer_authorization(asked, allow=True)
        assert (again.value.code, again.value.details) == (err.value.code, err.value.details)
        return err.value

    unknown = await refused({"scope": "bookings:read records:read"})
    assert (unknown.status, unknown.code) == (400, "invalid_scope")
    back = redirect_params(unknown.details[0]["redirect_to"])
    assert back["error"] == "invalid_scope" and back["state"] == "s1"
    mismatch = await refused({"redirect_uri": "https://attacker.example/cb"})
    assert (mismatch.code, mismatch.details) == ("invalid_request", [])  # shown, never redirected
    assert (await refused({"client_id": "klear_app_nope"})).code == "invalid_client"
    no_pkce = await refused({"code_challenge": None})
    assert redirect_params(no_pkce.details[0]["redirect_to"])["error"] == "invalid_request"
    plain = await refused({"code_challenge_method": "plain"})
    assert plain.code == "invalid_request"
    assert (await refused({"response_type": "token"})).code == "unsupported_response_type"
    denied = redirect_params(await person.answer_authorization(params, allow=False))
    assert denied == {"error": "access_denied", "state": "s1"}


async def test_code_exchange_errors_are_invalid_grant(app, clients):
    person = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(person)
    oauth = registered.oauth

    async def code(verifier_challenge: tuple[str, str]) -> str:
        params = authorization_params(oauth, ["profile:read"], verifier_challenge[1])
        return redirect_params(await person.answer_authorization(params, allow=True))["code"]

    async def grant_error(code_: str, verifier: str, redirect: str = REDIRECT) -> str:
        with pytest.raises(OAuthError) as err:
            await oauth.exchange_code(code_, redirect, verifier)
        return err.value.error

    pair = pkce_pair()
    wrong = await code(pair)
    assert await grant_error(wrong, pkce_pair()[0]) == "invalid_grant"
    assert await grant_error(await code(pair), pair[0], "http://127.0.0.1:9/other") == "invalid_grant"
    assert await grant_error(await code(pair), "short") == "invalid_request"

    used = await code(pair)
    tokens = await oauth.exchange_code(used, REDIRECT, pair[0])
    assert await grant_error(used, pair[0]) == "invalid_grant"
    with pytest.raises(ApiError) as err:  # a code replayed: what it granted is revoked (RFC 6749 4.1.2)
        await as_token(person, tokens.access_token).me()
    assert err.value.code == "token_revoked"

    late = await code(pair)
    await app.clock.advance(timedelta(minutes=6))
    assert await grant_error(late, pair[0]) == "invalid_grant"

    resp = await person.raw("POST", "/api/v1/oauth/token", data="grant_type=password", auth=False, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert (resp.status, resp.body["error"]) == (401, "invalid_client")
    for form, error in (("grant_type=password", "unsupported_grant_type"), ("", "invalid_request"),
                        ("grant_type=client_credentials&grant_type=refresh_token", "invalid_request"),
                        ("grant_type=client_credentials&scope=profile%00read", "invalid_request")):
        resp = await person.raw("POST", "/api/v1/oauth/token", data=form, auth=False, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {_basic(oauth.client_id, oauth.client_secret)}"})
        assert (resp.status, resp.body["error"]) == (400, error), form
        assert resp.headers["Cache-Control"] == "no-store"


def _basic(user: str, password: str | None) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_only_practitioners_and_admins_register_apps_and_only_admins_platform_ones(app, clients):
    client = await signed_up(clients(app.url))
    with pytest.raises(ApiError) as err:
        await client.create_app("Mine", [REDIRECT])
    assert err.value.status == 403
    practitioner = await signed_up(clients(app.url), "practitioner")
    with pytest.raises(ApiError) as err:
        await practitioner.create_app("Everyone's", [REDIRECT], platform=True)
    assert err.value.status == 403
    for bad in ("http://example.org/cb", "https://example.org/cb#frag", "javascript:alert(1)", "https://u:p@x.org/"):
        with pytest.raises(ApiError) as err:
            await practitioner.create_app("Bad", [bad])
        assert err.value.status == 422, bad
    made = await practitioner.create_app("Good", ["https://app.example.org/cb"], logo_url="https://app.example.org/l.png")
    assert made["client_secret"].startswith("klear_secret_")
    assert [a["id"] for a in await practitioner.apps()] == [made["id"]]
    assert "client_secret" not in (await practitioner.apps())[0]
