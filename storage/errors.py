"""Storage errors: the only exceptions that leave the storage package.

asyncpg's exceptions are translated here, at the boundary, so callers act on
what happened (a duplicate, a missing row, the database being away) without
knowing which driver reported it.
"""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error raised by the storage package."""


class NotFound(StorageError):
    """The row asked for does not exist (or is not visible to the caller)."""


class Duplicate(StorageError):
    """A unique constraint refused the write; `constraint` names which one."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(f"duplicate value violates {constraint or 'a unique constraint'}")
        self.constraint = constraint


class Conflict(StorageError):
    """The write lost against concurrent state (a lock, a check, a serialization failure)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unavailable(StorageError):
    """The database could not be reached or dropped the connection."""


class MigrationError(StorageError):
    """A migration file is invalid or was changed after it was applied."""
