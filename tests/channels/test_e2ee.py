"""End-to-end encrypted conversations: the server relays ciphertext it cannot read."""

from __future__ import annotations

import base64
import uuid

import asyncpg
import pytest

from klear_client import ApiError, EventRefused

from ..conftest import signed_up
from .conftest import pair

pytestmark = pytest.mark.quick


async def test_e2ee_messages_are_stored_as_ciphertext_and_decrypted_by_the_sdk(app, clients, realtime, database_url):
    alice, bob, cid = await pair(clients, app.url, e2ee=True)
    ra, rb = await realtime(alice), await realtime(bob)
    await ra.enable_e2ee()
    await rb.enable_e2ee()
    await ra.join(cid)
    await rb.join(cid)
    sent = await ra.send(cid, "my blood pressure readings are attached")
    got = await rb.next_event("message:new")
    assert got["text"] == "my blood pressure readings are attached"
    assert got["body"] is None and got["e2ee"]["sender_key_id"] == ra.keys.key_id
    assert sent["body"] is None
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT body_sealed, ciphertext, nonce, sender_key_id FROM messages")
        everything = await conn.fetchval("SELECT m::text FROM messages m")
    finally:
        await conn.close()
    assert row["body_sealed"] is None and row["ciphertext"] and len(row["nonce"]) == 24
    assert "blood" not in everything
    assert b"blood" not in row["ciphertext"]
    # The sender's own device can read it back from history too.
    history = await alice.call("GET", f"/conversations/{cid}/messages")
    raw = history["messages"][0]["e2ee"]
    assert ra.keys.decrypt(alice.session.user_id, alice.session.user_id, raw) == "my blood pressure readings are attached"
    assert base64.b64decode(raw["ciphertext"]) == row["ciphertext"]


async def test_plaintext_is_refused_in_an_e2ee_conversation_and_vice_versa(app, clients, realtime):
    alice, _, secret = await pair(clients, app.url, e2ee=True)
    carol, _, plain = await pair(clients, app.url)
    ra, rc = await realtime(alice), await realtime(carol)
    with pytest.raises(EventRefused) as err:
        await ra.call("message:send", {"conversation_id": secret, "client_id": str(uuid.uuid4()), "body": "oops"})
    assert err.value.code == "e2ee_required"
    fake = {"ciphertext": base64.b64encode(b"x" * 40).decode(), "nonce": base64.b64encode(b"n" * 24).decode(),
            "sender_key_id": "k"}
    with pytest.raises(EventRefused) as err2:
        await rc.call("message:send", {"conversation_id": plain, "client_id": str(uuid.uuid4()), "e2ee": fake})
    assert err2.value.code == "plaintext_required"


async def test_device_keys_are_visible_only_to_conversation_partners(app, clients, realtime):
    alice, bob, _ = await pair(clients, app.url, e2ee=True)
    stranger, _, _ = await pair(clients, app.url)
    ra = await realtime(alice)
    await ra.enable_e2ee("phone")
    keys = await bob.call("GET", f"/users/{alice.session.user_id}/keys")
    assert [k["key_id"] for k in keys["keys"]] == ["phone"]
    resp = await stranger.raw("GET", f"/api/v1/users/{alice.session.user_id}/keys")
    assert resp.status == 404
    dup = await alice.raw("POST", "/api/v1/devices/keys", json_body={"key_id": "phone", "public_key": base64.b64encode(b"k" * 32).decode()})
    assert dup.status == 409 and dup.body["error"]["code"] == "key_id_taken"
    short = await alice.raw("POST", "/api/v1/devices/keys", json_body={"key_id": "tablet", "public_key": base64.b64encode(b"k" * 31).decode()})
    assert short.status == 422


async def test_device_keys_are_capped_per_user_and_revoking_one_makes_room(start_app, clients):
    app = await start_app(KLEAR_MAX_DEVICE_KEYS="2")
    user = await signed_up(clients(app.url))
    public = base64.b64encode(bytes(32)).decode()
    for key_id in ("phone", "laptop"):
        await user.call("POST", "/devices/keys", json_body={"key_id": key_id, "public_key": public})
    with pytest.raises(ApiError) as refused:
        await user.call("POST", "/devices/keys", json_body={"key_id": "tablet", "public_key": public})
    assert refused.value.status == 409 and refused.value.code == "too_many_keys"
    assert refused.value.details == [{"limit": 2}]
    await user.call("DELETE", "/devices/keys/phone")
    await user.call("POST", "/devices/keys", json_body={"key_id": "tablet", "public_key": public})
    own = await user.call("GET", f"/users/{user.session.user_id}/keys")
    assert sorted(k["key_id"] for k in own["keys"]) == ["laptop", "tablet"]
