"""The base refusal every domain shares, and the storage errors.

`Refusal` is the one root of every refusal a caller can act on: a stable
code, an HTTP status, a human message and details. Domain packages derive
their refusals from it; the REST boundary (server/middleware.py) and the
Socket.IO boundary (channels' dispatcher) each render it once, so no handler
translates errors by hand. It lives here, at the bottom of the dependency
graph, because every package may raise it.

asyncpg's exceptions are translated in this package, at its boundary, so
callers act on what happened (a duplicate, a missing row, the database being
away) without knowing which driver reported it.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A request refused for a reason the caller can act on."""

    status = 400
    code = "bad_request"
    default_message = "The request was refused."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or []


class StorageError(Exception):
    """Root of every error raised by the storage package."""


class NotFound(StorageError, Refusal):
    """The row asked for does not exist (or is not visible to the caller)."""

    status, code, default_message = 404, "not_found", "No such resource."

    def __init__(self, what: str | None = None) -> None:
        super().__init__()
        self.what = what


class Duplicate(StorageError, Refusal):
    """A unique constraint refused the write; `constraint` names which one."""

    status, code = 409, "conflict"
    default_message = "The request conflicts with the current state; reload and retry."

    def __init__(self, constraint: str | None) -> None:
        super().__init__()
        self.constraint = constraint


class Conflict(StorageError, Refusal):
    """The write lost against concurrent state (a lock, a check, a serialization failure)."""

    status, code = 409, "conflict"
    default_message = "The request conflicts with the current state; reload and retry."

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class Unavailable(StorageError):
    """The database (or Redis) could not be reached or dropped the connection."""


class MigrationError(StorageError):
    """A migration file is invalid or was changed after it was applied."""
