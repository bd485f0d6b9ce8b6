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

Unwrapped keys are cached per process (bounded), and so is the fact that a key
was shredded (it never comes back); `forget` drops one, and the erasure path
calls it in every process. `sealers_for` loads every uncached key of a list in
one query, so a page of bookings or messages naming fifty people costs at most
one round trip, and none once their keys are cached.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable

import asyncpg
import nacl.encoding
import nacl.hash
import nacl.utils

from .crypto import KEY_BYTES, SealError, Sealer
from .database import Database
from .errors import StorageError

SYSTEM = uuid.UUID(int=0)
_CACHE = 4096
_LOAD = "SELECT owner_id, wrapped, master FROM data_keys WHERE owner_id = ANY($1::uuid[])"
# One statement: insert a fresh wrapped key for each owner without one; return those made and those that were
# there (the scan of data_keys sees the table as it was before the insert, so no row comes back twice).
_LOAD_OR_CREATE = """
    WITH made AS (
        INSERT INTO data_keys (owner_id, wrapped, master)
        SELECT owner_id, wrapped, $3 FROM unnest($1::uuid[], $2::bytea[]) AS fresh (owner_id, wrapped)
        ON CONFLICT (owner_id) DO NOTHING RETURNING owner_id, wrapped, master
    )
    SELECT owner_id, wrapped, master FROM made
    UNION ALL
    SELECT owner_id, wrapped, master FROM data_keys WHERE owner_id = ANY($1::uuid[])
"""


class KeyringError(StorageError):
    """A data key cannot be unwrapped with the master keys this process holds."""


class Shredded(StorageError):
    """The person's data key was destroyed (erasure): nothing of theirs can be opened any more."""


def fingerprint(master: bytes) -> bytes:
    """A short public name for a master key, stored beside each key it wrapped."""
    return nacl.hash.blake2b(b"klear master fingerprint v1", key=master, digest_size=16, encoder=nacl.encoding.RawEncoder)


class Sealers:
    """The sealers of several owners, as `Keyring.sealers_for` found them: None for an owner whose key is gone."""

    def __init__(self, found: dict[uuid.UUID, Sealer | None]) -> None:
        self._found = found

    def __getitem__(self, owner: uuid.UUID) -> Sealer:
        """`owner`'s sealer; raises `Shredded` when their key was destroyed."""
        sealer = self._found.get(owner)
        if sealer is None:
            raise Shredded(str(owner))
        return sealer

    def readable(self, owner: uuid.UUID) -> bool:
        """Whether `owner`'s key is here (False once it was shredded)."""
        return self._found.get(owner) is not None

    def open_text(self, owner: uuid.UUID, sealed: bytes | None, context: str) -> str | None:
        """`sealed` opened with `owner`'s key; None when nothing was sealed, or when the key was shredded (what
        it sealed is gone for good, and a listing that shows it must not fail)."""
        if sealed is None:
            return None
        sealer = self._found.get(owner)
        return None if sealer is None else sealer.open_text(sealed, context)


class Keyring:
    """The process's master key (and the previous one during a rotation) and a cache of unwrapped data keys."""

    def __init__(self, master: bytes, previous: bytes | None = None) -> None:
        self._current = fingerprint(master)
        self._wrappers = {self._current: Sealer(master, key_id=1)}
        if previous is not None and fingerprint(previous) != self._current:
            self._wrappers[fingerprint(previous)] = Sealer(previous, key_id=1)
        self._cache: OrderedDict[uuid.UUID, Sealer | None] = OrderedDict()  # None: shredded, for good

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

    def _remember(self, owner: uuid.UUID, sealer: Sealer | None) -> Sealer | None:
        self._cache[owner] = sealer
        self._cache.move_to_end(owner)
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return sealer

    def _from_row(self, owner: uuid.UUID, wrapped: bytes | None, master: bytes) -> Sealer | None:
        return self._remember(owner, None if wrapped is None else Sealer(self._unwrap(owner, wrapped, master)))

    async def system_sealer(self, db: Database, legacy: bytes) -> Sealer:
        """The system key's sealer; the first start stores `legacy` (the key data was sealed with before
        envelope encryption) as the system key, so nothing sealed earlier becomes unreadable."""
        key = await self._load_or_create(db, SYSTEM, legacy)
        return Sealer(key)

    async def sealer_for(self, db: Database, owner: uuid.UUID) -> Sealer:
        """The sealer of `owner`'s data key, created on first use; raises `Shredded` after erasure."""
        return (await self.sealers_for(db, [owner]))[owner]

    async def sealers_for(
        self, db: Database, owners: Iterable[uuid.UUID], *, conn: asyncpg.Connection | None = None
    ) -> Sealers:
        """The sealers of `owners`: cached ones at once, every other in ONE query that also creates the keys
        not made yet. A shredded owner maps to None (`Sealers` reads that as gone).

        With `conn` (the caller's transaction, e.g. under a row lock) keys are only loaded, on that
        connection, never created: a key made in a transaction that then rolls back would stay in this
        cache and seal data no other process could open. An owner without a key has nothing sealed to open.
        """
        found: dict[uuid.UUID, Sealer | None] = {}
        missing: list[uuid.UUID] = []
        for owner in dict.fromkeys(owners):
            if owner in self._cache:
                self._cache.move_to_end(owner)
                found[owner] = self._cache[owner]
            else:
                missing.append(owner)
        if not missing:
            return Sealers(found)
        if conn is not None:
            rows = await conn.fetch(_LOAD, missing)
        else:
            wrapped = [self._wrap(owner, nacl.utils.random(KEY_BYTES)) for owner in missing]
            rows = await db.fetch("keyring.load_or_create", _LOAD_OR_CREATE, missing, wrapped, self._current)
            if len(rows) < len(missing):  # made by another process after this statement's snapshot began
                seen = {r["owner_id"] for r in rows}
                rows = [*rows, *await db.fetch("keyring.load", _LOAD, [o for o in missing if o not in seen])]
        for r in rows:
            found[r["owner_id"]] = self._from_row(r["owner_id"], r["wrapped"], r["master"])
        return Sealers(found)

    async def _load_or_create(self, db: Database, owner: uuid.UUID, fresh: bytes) -> bytes:
        """The system key: like `sealers_for`, but a first start stores the given `fresh` key."""
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
