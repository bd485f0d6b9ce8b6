"""Registration tells nobody who has an account, is throttled per client, and refuses bad input before hashing."""

from __future__ import annotations

import statistics
import time

import asyncpg
import pytest

from klear_client import ApiError

from .conftest import PASSWORD, new_email
from .support.eventually import eventually

pytestmark = pytest.mark.quick

OTHER_PASSWORD = "a different long passphrase"


def _fields(email: str, password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"email": email, "password": password, "display_name": "Reg Person", "role": "client",
            "time_zone": "Europe/London", **extra}


async def _answer(client, body: dict[str, str]) -> tuple[int, str | None, object]:
    resp = await client.raw("POST", "/api/v1/auth/register", json_body=body)
    return resp.status, resp.headers.get("Content-Type"), resp.body


async def test_a_taken_address_gets_the_same_answer_as_a_new_one_and_its_owner_is_emailed(
    start_app, clients, mailbox, database_url,
):
    app = await start_app(**mailbox.env)
    c = clients(app.url)
    email = new_email("owner")
    first = await _answer(c, _fields(email))
    again = await _answer(c, _fields(email, OTHER_PASSWORD, display_name="Intruder", role="practitioner"))
    assert first == again
    assert first[0] == 202 and first[2]["status"] == "accepted"

    # The account is the first one, unchanged; the second password opens nothing.
    assert (await clients(app.url).login(email, PASSWORD)).user["display_name"] == "Reg Person"
    with pytest.raises(ApiError) as err:
        await clients(app.url).login(email, OTHER_PASSWORD)
    assert (err.value.status, err.value.code) == (401, "invalid_credentials")

    async def owner_told() -> None:
        assert [str(m["Subject"]) for m in mailbox.to(email)] == ["Someone tried to create an account with your email address"]

    await eventually(owner_told)
    # Registering the address over and over does not flood its owner: one email an hour.
    await _answer(c, _fields(email, OTHER_PASSWORD))
    await _answer(c, _fields(email, OTHER_PASSWORD))
    conn = await asyncpg.connect(database_url)
    try:
        queued = await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'email.account_exists'")
    finally:
        await conn.close()
    assert queued == 1


async def test_a_taken_address_takes_as_long_to_answer_as_a_new_one(app, clients):
    """Both paths hash the password; skipping the hash for a taken address would make it ~10x faster."""
    c = clients(app.url)
    taken = new_email("taken")
    await _answer(c, _fields(taken))

    async def timed(body: dict[str, str]) -> float:
        start = time.perf_counter()
        status, _, _ = await _answer(c, body)
        assert status == 202
        return time.perf_counter() - start

    new_times, taken_times = [], []
    for _ in range(5):
        new_times.append(await timed(_fields(new_email("fresh"))))
        taken_times.append(await timed(_fields(taken, OTHER_PASSWORD)))
    assert statistics.median(taken_times) > 0.5 * statistics.median(new_times)


async def test_registration_is_throttled_per_client_address(start_app, clients):
    app = await start_app(KLEAR_REGISTER_RATE_IP="2/3600")
    c = clients(app.url)
    emails = [new_email("burst") for _ in range(3)]
    assert [(await _answer(c, _fields(e)))[0] for e in emails[:2]] == [202, 202]
    resp = await c.raw("POST", "/api/v1/auth/register", json_body=_fields(emails[2]))
    assert (resp.status, resp.body["error"]["code"]) == (429, "rate_limited")
    assert int(resp.headers["Retry-After"]) >= 1
    with pytest.raises(ApiError) as err:  # nothing was created for the refused one
        await clients(app.url).login(emails[2], PASSWORD)
    assert err.value.code == "invalid_credentials"


async def test_bad_registrations_are_refused_before_the_throttle_and_the_hash(start_app, clients):
    """Validation (the cheap part) comes first: a refused body spends nothing, so it cannot use up the quota."""
    app = await start_app(KLEAR_REGISTER_RATE_IP="1/3600")
    c = clients(app.url)
    for bad in ("password12", "aaaaaaaaaa", "\x00" * 12):
        status, _, body = await _answer(c, _fields(new_email(), bad))
        assert (status, body["error"]["code"]) == (422, "validation_failed")
    assert (await _answer(c, _fields(new_email())))[0] == 202
