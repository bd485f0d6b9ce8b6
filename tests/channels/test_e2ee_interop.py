"""The end-to-end encryption layout of docs/protocol.md, which clients other than the SDK follow.

A message the SDK sends is taken apart here with PyNaCl and msgpack by the
documented layout alone, and the ciphertext limit is checked to count bytes,
not base64 text. The node client reading and writing such messages is in
test_js_client.py.
"""

from __future__ import annotations

import base64
import uuid

import msgpack
import pytest
from klear_client import EventRefused
from nacl.public import Box
from nacl.secret import SecretBox

from .conftest import pair

pytestmark = pytest.mark.quick


async def test_an_sdk_message_opens_by_the_documented_layout(app, clients, realtime):
    alice, bob, cid = await pair(clients, app.url, e2ee=True)
    ra, rb = await realtime(alice), await realtime(bob)
    sender, reader = await ra.enable_e2ee("phone"), await rb.enable_e2ee("tablet")
    await ra.join(cid)
    await rb.join(cid)
    await ra.send(cid, "Namaste, see you at nine")
    e2ee = (await rb.next_event("message:new"))["e2ee"]

    nonce = base64.b64decode(e2ee["nonce"], validate=True)
    envelope = msgpack.unpackb(base64.b64decode(e2ee["ciphertext"], validate=True))
    assert len(nonce) == 24 and envelope["v"] == 1 and e2ee["sender_key_id"] == "phone"
    # One wrapped key per device of every member, the sender's own included, labelled "<user id>/<key id>".
    assert sorted(envelope["keys"]) == sorted([f"{alice.session.user_id}/phone", f"{bob.session.user_id}/tablet"])
    wrapped = envelope["keys"][f"{bob.session.user_id}/tablet"]
    assert len(wrapped) == 24 + 32 + 16  # the box's own nonce, then the 32-byte key and its 16-byte tag
    key = Box(reader.private, sender.private.public_key).decrypt(wrapped[24:], wrapped[:24])
    assert SecretBox(key).decrypt(envelope["body"], nonce) == b"Namaste, see you at nine"


async def test_the_ciphertext_limit_counts_decoded_bytes_not_base64_text(app, clients, realtime):
    alice, _, cid = await pair(clients, app.url, e2ee=True)
    ra = await realtime(alice)
    await ra.join(cid)

    def sealed(size: int) -> dict[str, object]:
        return {"conversation_id": cid, "client_id": str(uuid.uuid4()), "e2ee": {
            "ciphertext": base64.b64encode(b"c" * size).decode(), "nonce": base64.b64encode(b"n" * 24).decode(),
            "sender_key_id": "phone"}}

    at_limit = await ra.call("message:send", sealed(12 * 1024))  # 16 KiB of base64 text
    assert at_limit["message"]["seq"] == 1
    with pytest.raises(EventRefused) as over:
        await ra.call("message:send", sealed(12 * 1024 + 1))
    assert over.value.code == "payload_too_large"
