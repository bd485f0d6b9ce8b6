"""Accounts: register, login, refresh rotation with reuse detection, logout, profile (in-process app)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest

from klear_client import ApiError, KlearClient

from .conftest import PASSWORD, new_email, signed_up

pytestmark = pytest.mark.quick


async def test_register_then_login_returns_the_same_account(app, clients):
    email = new_email()
    first = await clients(app.url).register(email, PASSWORD, "Ada Client", "client", "America/New_York")
    again = await clients(app.url).login(email.upper(), PASSWORD)
    assert again.user == first.user
    assert first.user["email"] == email
    assert first.user["role"] == "client"
    assert first.user["time_zone"] == "America/New_York"


async def test_me_returns_your_own_account(app, clients):
    c = await signed_up(clients(app.url), "practitioner", "Asia/Kolkata")
    me = await c.me()
    assert me["id"] == c.session.user_id and me["role"] == "practitioner" and me["time_zone"] == "Asia/Kolkata"


async def test_wrong_password_and_unknown_email_look_the_same(app, clients):
    c = await signed_up(clients(app.url))
    with pytest.raises(ApiError) as wrong:
        await clients(app.url).login(c.session.user["email"], "not the password")
    with pytest.raises(ApiError) as unknown:
        await clients(app.url).login(new_email(), PASSWORD)
    assert (wrong.value.status, wrong.value.code) == (401, "invalid_credentials")
    assert (unknown.value.status, unknown.value.code, unknown.value.message) == (401, wrong.value.code, wrong.value.message)


async def test_refresh_rotates_the_refresh_token(app, clients):
    c = await signed_up(clients(app.url))
    old = c.session
    new = await c.refresh()
    assert new.refresh_token != old.refresh_token
    assert new.access_token != old.access_token
    assert (await c.me())["id"] == old.user_id


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(app, clients):
    c = await signed_up(clients(app.url))
    stolen = c.session.refresh_token
    legit = await c.refresh()

    thief = clients(app.url)
    thief.session = type(c.session)(c.session.access_token, stolen, c.session.user)
    with pytest.raises(ApiError) as err:
        await thief.refresh()
    assert (err.value.status, err.value.code) == (401, "token_reused")

    # The legitimate holder's newer tokens die with the family.
    with pytest.raises(ApiError) as refresh_err:
        await c.refresh()
    assert refresh_err.value.code == "token_revoked"
    c.session = legit
    with pytest.raises(ApiError) as me_err:
        await c.me()
    assert (me_err.value.status, me_err.value.code) == (401, "token_revoked")


async def test_logout_revokes_the_access_and_refresh_tokens(app, clients):
    c = await signed_up(clients(app.url))
    assert await c.me()
    await c.logout()
    with pytest.raises(ApiError) as me_err:
        await c.me()
    assert (me_err.value.status, me_err.value.code) == (401, "token_revoked")
    with pytest.raises(ApiError) as refresh_err:
        await c.refresh()
    assert refresh_err.value.code == "token_revoked"


async def test_logging_out_one_device_keeps_the_others_signed_in(app, clients):
    phone = await signed_up(clients(app.url))
    laptop = clients(app.url)
    await laptop.login(phone.session.user["email"], PASSWORD)
    await phone.logout()
    assert (await laptop.me())["id"] == phone.session.user_id


async def test_profile_update_changes_name_and_time_zone(app, clients):
    c = await signed_up(clients(app.url))
    updated = await c.update_me(display_name="  Renamed Person ", time_zone="Europe/Berlin")
    assert (updated["display_name"], updated["time_zone"]) == ("Renamed Person", "Europe/Berlin")
    assert (await c.me())["display_name"] == "Renamed Person"


async def test_profile_update_refuses_an_unknown_time_zone_and_keeps_the_old_one(app, clients):
    c = await signed_up(clients(app.url), tz="Europe/Paris")
    with pytest.raises(ApiError) as err:
        await c.update_me(time_zone="Mars/Olympus_Mons")
    assert (err.value.status, err.value.code) == (422, "validation_failed")
    assert (await c.me())["time_zone"] == "Europe/Paris"


async def test_reading_another_users_profile_is_audited(app, clients, database_url):
    alice = await signed_up(clients(app.url), "client", name="Alice")
    bob = await signed_up(clients(app.url), "practitioner", name="Bob")
    seen = await alice.user(bob.session.user_id)
    assert seen == {"id": bob.session.user_id, "display_name": "Bob", "role": "practitioner", "time_zone": "Europe/London"}
    assert "email" not in seen
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT actor_id::text, action, subject_id::text, request_id FROM audit_log")
    finally:
        await conn.close()
    assert [(r["actor_id"], r["action"], r["subject_id"]) for r in rows] == [(alice.session.user_id, "user.read", bob.session.user_id)]
    assert rows[0]["request_id"]


async def test_emails_are_not_stored_in_plaintext(app, clients, database_url):
    c = await signed_up(clients(app.url))
    email = c.session.user["email"].encode()
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT u.*::text AS all_columns FROM users u")
    finally:
        await conn.close()
    assert email not in row["all_columns"].encode()
    assert c.session.user["email"].split("@")[0] not in row["all_columns"]


async def _client_at(url: str, address: str, made: list[aiohttp.ClientSession]) -> KlearClient:
    """An SDK client whose connections come from `address` (any 127.x.y.z reaches the loopback server)."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    made.append(http)
    return KlearClient(url, session=http)


@pytest.fixture
async def client_at() -> AsyncIterator[Callable[[str, str], Awaitable[KlearClient]]]:
    made: list[aiohttp.ClientSession] = []
    yield lambda url, address: _client_at(url, address, made)
    for http in made:
        await http.close()


async def _guess(client: KlearClient, email: str, password: str = "not the password") -> str:
    try:
        await client.login(email, password)
    except ApiError as exc:
        return exc.code
    return "ok"


async def test_a_guesser_is_throttled_but_cannot_lock_the_owner_out(start_app, clients, client_at):
    app = await start_app(KLEAR_LOGIN_RATE_ACCOUNT_IP="3/300", KLEAR_LOGIN_RATE_ACCOUNT="100/3600")
    owner = await signed_up(clients(app.url))
    email = owner.session.user["email"]
    guesser = await client_at(app.url, "127.0.0.2")
    assert [await _guess(guesser, email) for _ in range(4)] == ["invalid_credentials"] * 3 + ["rate_limited"]
    assert await _guess(guesser, email, PASSWORD) == "rate_limited"  # even the right password, from the guesser
    with pytest.raises(ApiError) as err:
        await guesser.login(email, PASSWORD)
    assert 1 <= int(err.value.headers["Retry-After"]) <= 100
    # The owner, who has not failed, signs in at once; so does the guesser on another account.
    assert await _guess(clients(app.url), email, PASSWORD) == "ok"
    other = await signed_up(clients(app.url))
    assert await _guess(guesser, other.session.user["email"], PASSWORD) == "ok"


async def test_past_the_account_limit_only_clients_that_failed_wait(start_app, clients, client_at):
    app = await start_app(KLEAR_LOGIN_RATE_ACCOUNT_IP="5/300", KLEAR_LOGIN_RATE_ACCOUNT="2/3600")
    owner = await signed_up(clients(app.url))
    email = owner.session.user["email"]
    first, second, fresh = [await client_at(app.url, f"127.0.0.{n}") for n in (2, 3, 4)]
    assert [await _guess(first, email), await _guess(second, email)] == ["invalid_credentials"] * 2
    # The account's failure budget is spent: a client that failed on it waits, even under its own limit...
    assert await _guess(first, email, PASSWORD) == "rate_limited"
    # ...while a client that has not failed may still try, and the owner gets in.
    assert await _guess(fresh, email) == "invalid_credentials"
    assert await _guess(fresh, email) == "rate_limited"
    assert await _guess(clients(app.url), email, PASSWORD) == "ok"


async def test_an_unknown_address_is_throttled_like_a_real_one(start_app, clients, client_at):
    app = await start_app(KLEAR_LOGIN_RATE_ACCOUNT_IP="2/300")
    real = (await signed_up(clients(app.url))).session.user["email"]
    guesser = await client_at(app.url, "127.0.0.2")
    answers = {email: [await _guess(guesser, email) for _ in range(3)] for email in (real, new_email())}
    assert list(answers.values()) == [["invalid_credentials", "invalid_credentials", "rate_limited"]] * 2


async def test_login_is_throttled_per_ip(start_app, clients):
    app = await start_app(KLEAR_LOGIN_RATE_IP="2/120")
    emails = [new_email() for _ in range(3)]
    with pytest.raises(ApiError) as err:
        for email in emails:
            try:
                await clients(app.url).login(email, PASSWORD)
            except ApiError as exc:
                if exc.code != "invalid_credentials":
                    raise
    assert err.value.status == 429 and int(err.value.headers["Retry-After"]) >= 1
