"""argon2id password hashing, off the event loop.

Hashing deliberately costs ~100 ms of CPU and 64 MiB, so it runs in a thread
(argon2-cffi releases the GIL). Unknown emails are checked against a dummy hash
so a login for a missing account takes as long as one with a wrong password.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hash and verify passwords with argon2id (RFC 9106 low-memory profile)."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
        self._dummy = self._hasher.hash("klear timing equaliser")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if `password` matches; with no stored hash, spend the same time and say False."""
        try:
            return await asyncio.to_thread(self._hasher.verify, stored_hash or self._dummy, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
