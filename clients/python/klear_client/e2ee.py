"""End-to-end encryption for conversations: the server only ever sees ciphertext.

Each device has an X25519 key pair; its public key is registered with the
server. A message is encrypted once with a fresh random key (XSalsa20-Poly1305,
`SecretBox`), and that key is wrapped for every device of every member
(including the sender's own devices) with `Box(sender_private, device_public)`.
The envelope (ciphertext plus wrapped keys) travels as the message's
`ciphertext`; `nonce` is the body's nonce and `sender_key_id` names the
sender's device key, so recipients can find the public key to unwrap with.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import msgpack
from nacl.public import Box, PrivateKey, PublicKey
from nacl.secret import SecretBox
from nacl.utils import random


@dataclass
class DeviceKeys:
    """This device's key pair and the public keys it knows, by (user id, key id)."""

    key_id: str
    private: PrivateKey = field(default_factory=PrivateKey.generate)
    known: dict[tuple[str, str], PublicKey] = field(default_factory=dict)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self.private.public_key)).decode()

    def learn(self, user_id: str, key_id: str, public_b64: str) -> None:
        self.known[(user_id, key_id)] = PublicKey(base64.b64decode(public_b64))

    def encrypt(self, plaintext: str, recipients: list[tuple[str, str]]) -> dict[str, str]:
        """The `e2ee` payload of a message readable by the given (user id, key id) devices."""
        key, nonce = random(SecretBox.KEY_SIZE), random(SecretBox.NONCE_SIZE)
        body = SecretBox(key).encrypt(plaintext.encode(), nonce).ciphertext
        wrapped = {f"{u}/{k}": bytes(Box(self.private, self.known[(u, k)]).encrypt(key)) for u, k in recipients}
        envelope = msgpack.packb({"v": 1, "body": body, "keys": wrapped})
        return {
            "ciphertext": base64.b64encode(envelope).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "sender_key_id": self.key_id,
        }

    def decrypt(self, my_user_id: str, sender_id: str, e2ee: dict[str, str]) -> str:
        """The text of a message encrypted for this device."""
        envelope = msgpack.unpackb(base64.b64decode(e2ee["ciphertext"]))
        wrapped = envelope["keys"][f"{my_user_id}/{self.key_id}"]
        sender_key = self.known[(sender_id, e2ee["sender_key_id"])]
        key = Box(self.private, sender_key).decrypt(wrapped)
        return SecretBox(key).decrypt(envelope["body"], base64.b64decode(e2ee["nonce"])).decode()
