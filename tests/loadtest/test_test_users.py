"""The admin path `klear loadtest` uses to make and remove its accounts."""

from __future__ import annotations

import pytest
from klear_client import ApiError, KlearClient, Session

from ..conftest import PASSWORD, signed_up

pytestmark = pytest.mark.quick


async def test_an_admin_makes_signed_in_test_users_and_removes_them_with_all_they_made(app, clients, admin_email):
    admin = clients(app.url)
    await admin.login(admin_email, PASSWORD)
    made = await admin.create_test_users(clients=2, practitioners=1)
    assert sorted(u["role"] for u in made["users"]) == ["client", "client", "practitioner"]

    practitioner, client = clients(app.url), clients(app.url)
    practitioner.session = Session.of_test_user(next(u for u in made["users"] if u["role"] == "practitioner"))
    client.session = Session.of_test_user(next(u for u in made["users"] if u["role"] == "client"))
    assert (await client.me())["role"] == "client"
    pid = practitioner.session.user_id
    await practitioner.save_practitioner_profile(pid, bio="Teacher.", modalities=["yoga"], languages=["en"], time_zone="UTC")
    await practitioner.create_offering(pid, name="Yoga", duration_min=60, price_minor=100, currency="EUR", mode="video")
    conv = await client.request_conversation(pid)
    await client.refresh()  # the refresh token handed out works like a login's

    more = await admin.create_test_users(clients=1, batch_id=made["batch_id"])
    assert more["batch_id"] == made["batch_id"]
    assert await admin.remove_test_users(made["batch_id"]) == 4
    with pytest.raises(ApiError) as gone:
        await admin.user(pid)
    assert gone.value.status == 404
    with pytest.raises(ApiError) as again:
        await admin.remove_test_users(made["batch_id"])
    assert again.value.status == 404 and again.value.code == "not_found"
    assert conv["id"] not in [c["id"] for c in await admin.conversations()]


async def test_only_admins_make_test_users_and_counts_are_bounded(app, clients, admin_email):
    someone = await signed_up(clients(app.url))
    with pytest.raises(ApiError) as refused:
        await someone.create_test_users(clients=1)
    assert refused.value.status == 403
    admin = clients(app.url)
    await admin.login(admin_email, PASSWORD)
    for counts in ({"clients": 0}, {"clients": 1001}, {"clients": 600, "practitioners": 600}):
        with pytest.raises(ApiError) as bad:
            await admin.create_test_users(**counts)
        assert bad.value.status == 422 and bad.value.code == "validation_failed", counts


async def test_nobody_signs_in_to_a_test_user_with_a_password(app, admin_email):
    async with KlearClient(app.url) as admin:
        await admin.login(admin_email, PASSWORD)
        made = await admin.create_test_users(clients=1)
        with pytest.raises(ApiError) as refused:
            await admin.login(f"loadtest-{made['users'][0]['id'].replace('-', '')}@loadtest.invalid", "!load-test-account")
        assert refused.value.status == 401
