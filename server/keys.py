"""Secret material: taken from settings, or generated once into the data folder.

Generated key files are created with mode 0600 atomically (O_EXCL), so two
processes starting together on a fresh folder agree on one key, and a key is
never readable by other users of the machine.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import nacl.encoding
import nacl.hash

from .config import ConfigError, Settings


@dataclass(frozen=True, slots=True)
class Keys:
    """Derived keys, each for exactly one purpose."""

    jwt: bytes
    data: bytes  # the key data was sealed with before envelope encryption: the first start stores it as the system key
    wrapping: bytes  # wraps the per-person data keys (storage/keyring.py)
    previous_wrapping: bytes | None = None  # the wrapping key of KLEAR_DATA_KEY_PREVIOUS, during a rotation


def _derive(secret: str, purpose: bytes) -> bytes:
    """A 32-byte key for `purpose`, so one secret never keys two different uses."""
    raw = nacl.encoding.RawEncoder
    root = nacl.hash.blake2b(secret.encode(), digest_size=64, encoder=raw)
    return nacl.hash.blake2b(purpose, key=root, digest_size=32, encoder=raw)


def load_or_create(path: Path) -> str:
    """Read the key stored at `path`, creating it (mode 0600) if it does not exist yet.

    The key is written to a private temporary file and hard-linked into place,
    which fails if another process won the race; the loser then reads the
    winner's complete file, never a half-written one.
    """
    if path.exists():
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(secrets.token_bytes(48)).decode() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_key(path)


def _read_key(path: Path) -> str:
    text = path.read_text().strip()
    if len(text) < 32:
        raise ConfigError(f"invalid key file {path}: too short; delete it to generate a new one")
    return text


def resolve(settings: Settings) -> Keys:
    """The process's keys: from KLEAR_SECRET_KEY / KLEAR_DATA_KEY, else from the data folder."""
    given_secret, given_data = settings.server.secret_key, settings.storage.data_key
    secret = given_secret.reveal() if given_secret else load_or_create(settings.storage.data_dir / "secret.key")
    data = given_data.reveal() if given_data else load_or_create(settings.storage.data_dir / "data.key")
    previous = settings.storage.data_key_previous
    return Keys(
        jwt=_derive(secret, b"klear access tokens v1"), data=_derive(data, b"klear data at rest v1"),
        wrapping=_derive(data, b"klear key wrapping v1"),
        previous_wrapping=_derive(previous.reveal(), b"klear key wrapping v1") if previous else None,
    )
