"""Envelope encryption: a data key per person, each wrapped by the master key.

The master key (from KLEAR_DATA_KEY) never seals data itself; it only wraps
data keys, which live in `data_keys`. So rotating the master re-wraps a few
hundred bytes per person (`rotate`) instead of re-encrypting every field, and
destroying one person's wrapped key (`shred`) makes everything sealed with it
unreadable by any key the server holds: erasure by crypto-shredding.

The system key (owner: the nil uuid) seals what belongs to no one person and
keys the blind indexes. A database sealed before envelope encryption used the
key derived from KLEAR_DATA_KEY directly; the first start wraps exactly that
key as the system key, so those rows stay readable, and after a rotation they
are opened through the wrapped copy.

Unwrapped keys are cached per process (bounded); `forget` drops one, and the
erasure path calls it in every process.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

import nacl.encoding
import nacl.hash
import nacl.utils

from .crypto import KEY_BYTES, SealError, Sealer
from .database import Database
from .errors import StorageError

SYSTEM = uuid.UUID(int=0)
_CACHE = 4096


class KeyringError(StorageError):
    """A data key cannot be unwrapped with the master keys this process holds."""


class Shredded(StorageError):
    """The person's data key was destroyed (erasure): nothing of theirs can be opened any more."""


def fingerprint(master: bytes) -> bytes:
    """A short public name for a master key, stored beside each key it wrapped."""
    return nacl.hash.blake2b(b"klear master fingerprint v1", key=master, digest_size=16, encoder=nacl.encoding.RawEncoder)


class Keyring:
    """The process's master key (and the previous one during a rotation) and a cache of unwrapped data keys."""

    def __init__(self, master: bytes, previous: bytes | None = None) -> None:
        self._current = fingerprint(master)
        self._wrappers = {self._current: Sealer(master, key_id=1)}
        if previous is not None and fingerprint(previous) != self._current:
            self._wrappers[fingerprint(previous)] = Sealer(previous, key_id=1)
        self._cache: OrderedDict[uuid.UUID, Sealer] = OrderedDict()

    def _wrap(self, owner: uuid.UUID, key: bytes) -> bytes:
        return self._wrappers[self._current].seal(key, f"data_keys:{owner}")

    def _unwrap(self, owner: uuid.UUID, wrapped: bytes, master: bytes) -> bytes:
        wrapper = self._wrappers.get(bytes(master))
        if wrapper is None:
            raise KeyringError(
                "a data key is wrapped by a master key this process does not hold: set KLEAR_DATA_KEY to it "
                "(or to the new key with the old one in KLEAR_DATA_KEY_PREVIOUS and run `klear keys rotate`)"
            )
        try:
            return wrapper.open(wrapped, f"data_keys:{owner}")
        except SealError as exc:
            raise KeyringError(f"the data key of {owner} does not open with its master key") from exc

    def _remember(self, owner: uuid.UUID, sealer: Sealer) -> Sealer:
        self._cache[owner] = sealer
        self._cache.move_to_end(owner)
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return sealer

    async def system_sealer(self, db: Database, legacy: bytes) -> Sealer:
        """The system key's sealer; the first start stores `legacy` (the key data was sealed with before
        envelope encryption) as the system key, so nothing sealed earlier becomes unreadable."""
        key = await self._load_or_create(db, SYSTEM, legacy)
        return Sealer(key)

    async def sealer_for(self, db: Database, owner: uuid.UUID) -> Sealer:
        """The sealer of `owner`'s data key, created on first use; raises `Shredded` after erasure."""
        cached = self._cache.get(owner)
        if cached is not None:
            self._cache.move_to_end(owner)
            return cached
        return self._remember(owner, Sealer(await self._load_or_create(db, owner, nacl.utils.random(KEY_BYTES))))

    async def _load_or_create(self, db: Database, owner: uuid.UUID, fresh: bytes) -> bytes:
        row = await db.fetchrow(
            "keyring.create",
            """
            INSERT INTO data_keys (owner_id, wrapped, master) VALUES ($1, $2, $3)
            ON CONFLICT (owner_id) DO NOTHING RETURNING wrapped
            """,
            owner, self._wrap(owner, fresh), self._current,
        )
        if row is not None:
            return fresh
        row = await db.fetchrow("keyring.load", "SELECT wrapped, master FROM data_keys WHERE owner_id = $1", owner)
        if row is None:  # shredded and purged between the two statements: treat as shredded
            raise Shredded(str(owner))
        if row["wrapped"] is None:
            raise Shredded(str(owner))
        return self._unwrap(owner, row["wrapped"], row["master"])

    def forget(self, owner: uuid.UUID) -> None:
        """Drop `owner`'s unwrapped key from this process (after it was shredded anywhere)."""
        self._cache.pop(owner, None)

    def clear(self) -> None:
        """Drop every unwrapped key (after a bus outage, when an erasure elsewhere may have gone unheard)."""
        self._cache.clear()

    async def shred(self, db: Database, owner: uuid.UUID) -> bool:
        """Destroy `owner`'s data key for good; True if there was one to destroy."""
        self.forget(owner)
        tag = await db.execute(
            "keyring.shred",
            "UPDATE data_keys SET wrapped = NULL, shredded_at = now() WHERE owner_id = $1 AND wrapped IS NOT NULL",
            owner,
        )
        return tag.endswith(" 1")

    async def rotate(self, db: Database) -> int:
        """Re-wrap every data key still wrapped by the previous master with the current one; returns how many.

        Only wrapped keys change: no sealed field is read or written. Idempotent, and safe to run while
        servers holding either key are up (they unwrap by the stored fingerprint).
        """
        done = 0
        async with db.transaction("keyring.rotate") as conn:
            rows = await conn.fetch(
                "SELECT owner_id, wrapped, master FROM data_keys WHERE wrapped IS NOT NULL AND master <> $1 FOR UPDATE",
                self._current,
            )
            for row in rows:
                key = self._unwrap(row["owner_id"], row["wrapped"], row["master"])
                await conn.execute(
                    "UPDATE data_keys SET wrapped = $2, master = $3, rewrapped_at = now() WHERE owner_id = $1",
                    row["owner_id"], self._wrap(row["owner_id"], key), self._current,
                )
                done += 1
        return done
