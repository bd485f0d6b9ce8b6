"""Erasure by crypto-shredding: the key is destroyed, the account tombstoned, live sockets closed, future bookings
cancelled, and the practitioner keeps a pseudonymised booking for their accounting. Whatever the person's key
sealed (records, name, email, messages) opens with no key the server still holds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from klear_client import ApiError
from server.appkeys import RUNTIME
from storage.crypto import SealError
from storage.keyring import SYSTEM, Shredded

from ..channels.conftest import realtime  # noqa: F401  (fixture)
from ..conftest import PASSWORD
from ..scheduler.conftest import iso
from .conftest import booked_pair

pytestmark = pytest.mark.quick


async def test_erasure_shreds_the_key_closes_sockets_cancels_future_bookings_and_keeps_a_pseudonymised_booking(
    app, clients, database_url, realtime  # noqa: F811
):
    pair = await booked_pair(clients, app.url)
    email = (await pair.client.me())["email"]
    entry = await pair.client.add_history("condition", "Diabetes type 1", "Insulin pump")
    await pair.client.grant_consent(pair.practitioner_id, ["history"], iso(app.clock.now() + timedelta(days=3)))
    live = await realtime(pair.client)
    conversation = (await pair.client.booking(pair.booking_id))["conversation_id"]
    await live.join(conversation)
    sent = await live.send(conversation, "I'll bring my scans")
    assert (await pair.client.raw("POST", "/api/v1/me/two-factor")).status == 201  # a secret under the system key
    conn = await asyncpg.connect(database_url)
    try:
        sealed = bytes(await conn.fetchval("SELECT body_sealed FROM health_record_versions WHERE record_id = $1::uuid",
                                           entry["id"]))
        account = await conn.fetchrow("SELECT name_sealed, email_sealed FROM users WHERE id = $1::uuid", pair.client_id)
        message = await conn.fetchrow("SELECT id, body_sealed FROM messages WHERE id = $1::uuid", sent["id"])
    finally:
        await conn.close()
    old_ciphertexts = {  # what the person's key sealed, as copied from the database before the erasure
        f"health_record_versions.body:{entry['id']}:1": sealed,
        f"users.name:{pair.client_id}": bytes(account["name_sealed"]),
        f"users.email:{pair.client_id}": bytes(account["email_sealed"]),
        f"messages.body:{message['id']}": bytes(message["body_sealed"]),
    }

    wrong = await pair.client.raw("POST", "/api/v1/me/erase", json_body={"current_password": "not the password"})
    assert wrong.status == 403 and wrong.body["error"]["code"] == "wrong_password"
    await pair.client.erase_account(PASSWORD)

    assert (await live.next_event("disconnect", timeout=5)) is not None  # the socket is closed
    with pytest.raises(ApiError) as signed_out:
        await pair.client.me()
    assert signed_out.value.status == 401
    with pytest.raises(ApiError) as no_login:
        await clients(app.url).login(email, PASSWORD)
    assert no_login.value.code == "invalid_credentials"

    # The old ciphertexts open with no key the server holds: the client's key is gone, and neither the
    # system key nor any other person's key opens them.
    db = app.app[RUNTIME].db
    with pytest.raises(Shredded):
        await db.keys.sealer_for(db, uuid.UUID(pair.client_id))
    conn = await asyncpg.connect(database_url)
    try:
        owners = [r["owner_id"] for r in await conn.fetch("SELECT owner_id FROM data_keys WHERE wrapped IS NOT NULL")]
    finally:
        await conn.close()
    held = await db.keys.sealers_for(db, owners)
    every_key = [db.sealer, *(held[o] for o in owners if o != SYSTEM)]
    assert len(every_key) >= 2  # the system key and the practitioner's at least
    for context, ciphertext in old_ciphertexts.items():
        for key in every_key:
            with pytest.raises(SealError):
                key.open(ciphertext, context)

    conn = await asyncpg.connect(database_url)
    try:
        left = {t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE {c} = $1::uuid", pair.client_id) for t, c in (
            ("health_records", "client_id"), ("consent_grants", "client_id"), ("notifications", "user_id"),
            ("booking_feed", "user_id"), ("two_factor", "user_id"))}
        live_sessions = await conn.fetchval(
            "SELECT count(*) FROM auth_sessions WHERE user_id = $1::uuid AND revoked_at IS NULL", pair.client_id)
        key = await conn.fetchrow("SELECT wrapped, shredded_at FROM data_keys WHERE owner_id = $1::uuid", pair.client_id)
    finally:
        await conn.close()
    assert all(n == 0 for n in left.values()) and live_sessions == 0, left
    assert key["wrapped"] is None and key["shredded_at"] is not None

    booking = await pair.practitioner.booking(pair.booking_id)  # the accounting view keeps the booking
    assert booking["status"] == "cancelled" and booking["client"]["display_name"] == "Deleted user"
    assert booking["price_minor"] == 5000
    conn = await asyncpg.connect(database_url)
    try:
        tombstone = await conn.fetchrow("SELECT display_name, name_sealed, email_sealed FROM users WHERE id = $1::uuid",
                                        pair.client_id)
    finally:
        await conn.close()
    assert dict(tombstone) == {"display_name": "Deleted user", "name_sealed": None, "email_sealed": None}
    history = await pair.practitioner.history(conversation)
    assert [(m["sender_id"], m["deleted"], m["body"]) for m in history["messages"]] == [(pair.client_id, True, None)]
