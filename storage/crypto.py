"""Encryption at rest for health and personal data, and blind indexes for lookups.

Columns holding such data store `seal(...)` output: XChaCha20-Poly1305 with a
random nonce, bound to a context string (table, column and owning row id) as
associated data, so a ciphertext copied into another row or column fails to
open. Exact-match lookups (login by email) use a keyed BLAKE2b blind index
instead of the plaintext.

Layout of a sealed value: version byte, key id byte, 24-byte nonce, ciphertext.
The key id lets a future key rotation open old rows while sealing new ones.
"""

from __future__ import annotations

import nacl.bindings as sodium
import nacl.encoding
import nacl.hash
import nacl.utils

_VERSION = 1
_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
KEY_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES


class SealError(Exception):
    """A sealed value is corrupt, was moved to another context, or uses an unknown key."""


class Sealer:
    """Seals and opens field values with the data key; derives the blind-index key from it."""

    def __init__(self, data_key: bytes, key_id: int = 1) -> None:
        if len(data_key) != KEY_BYTES:
            raise ValueError(f"data key must be {KEY_BYTES} bytes")
        self._key_id = key_id
        self._keys = {key_id: data_key}
        self._index_key = nacl.hash.blake2b(b"klear blind index v1", key=data_key, digest_size=32, encoder=nacl.encoding.RawEncoder)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt `plaintext` for storage under `context` (e.g. ``"messages.body:<id>"``)."""
        nonce = nacl.utils.random(_NONCE)
        box = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, context.encode(), nonce, self._keys[self._key_id])
        return bytes((_VERSION, self._key_id)) + nonce + box

    def open(self, sealed: bytes, context: str) -> bytes:
        """Decrypt a value produced by `seal` with the same `context`."""
        if len(sealed) < 2 + _NONCE or sealed[0] != _VERSION:
            raise SealError("unknown sealed value format")
        key = self._keys.get(sealed[1])
        if key is None:
            raise SealError("sealed with an unknown key")
        nonce = sealed[2 : 2 + _NONCE]
        try:
            return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[2 + _NONCE :], context.encode(), nonce, key)
        except Exception as exc:  # libsodium reports every failure the same way
            raise SealError("sealed value failed authentication") from exc

    def seal_text(self, text: str, context: str) -> bytes:
        """`seal` for a str."""
        return self.seal(text.encode(), context)

    def open_text(self, sealed: bytes, context: str) -> str:
        """`open` for a str."""
        return self.open(sealed, context).decode()

    def blind_index(self, value: str, purpose: str) -> bytes:
        """A keyed, deterministic digest of `value` for equality lookups under `purpose`."""
        return nacl.hash.blake2b(
            purpose.encode() + b"\x00" + value.encode(),
            key=self._index_key,
            digest_size=32,
            encoder=nacl.encoding.RawEncoder,
        )
