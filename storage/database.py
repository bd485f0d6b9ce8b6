"""The asyncpg pool, wrapped so that every query is named and every driver error is ours.

Storage modules receive a `Database` and use `db.connection(name)` or
`db.transaction(name)`. The name appears in metrics and logs, so a slow or
failing query can be identified without logging its parameters.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from .crypto import Sealer
from .errors import Conflict, Duplicate, NotFound, StorageError, Unavailable

if TYPE_CHECKING:
    from .audit import Appender
    from .keyring import Keyring

QueryObserver = Callable[[str, float, bool], None]

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def translate(exc: BaseException) -> StorageError:
    """Map a driver exception to the storage error a caller can act on."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return Duplicate(exc.constraint_name)
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
        return NotFound(f"referenced row is missing ({exc.constraint_name})")
    if isinstance(
        exc,
        (
            asyncpg.exceptions.SerializationError,
            asyncpg.exceptions.DeadlockDetectedError,
            asyncpg.exceptions.ExclusionViolationError,
            asyncpg.exceptions.LockNotAvailableError,
        ),
    ):
        return Conflict(type(exc).__name__)
    if isinstance(exc, asyncpg.exceptions.RaiseError) and exc.sqlstate == "P0002":
        return NotFound(str(exc))
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        return Conflict(exc.constraint_name or "check violation")
    if isinstance(exc, _UNAVAILABLE):
        return Unavailable(type(exc).__name__)
    return StorageError(type(exc).__name__)


async def _keep_clean(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without a reset round trip.

    asyncpg's default reset runs `RESET ALL; UNLISTEN *; ...` on every release,
    doubling the round trips of a one-query request. Storage code never leaves
    session state behind (advisory locks are transaction-scoped; the migration
    lock is released explicitly; no LISTEN, no session SET), and asyncpg still
    rolls back any transaction left open, so there is nothing to reset.
    """


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Database:
    """The process's connection pool plus the sealer that encrypts shared data at rest (the system key) and, in a
    server, the keyring of per-person data keys (`storage.keyring`)."""

    def __init__(self, pool: asyncpg.Pool, sealer: Sealer, observe: QueryObserver | None = None) -> None:
        self.pool = pool
        self.sealer = sealer
        self.keyring: Keyring | None = None
        self.audit_appender: Appender | None = None  # made by storage.audit on its first append
        self._observe = observe

    @property
    def keys(self) -> Keyring:
        """The keyring; a Database opened without one (a tool, a test of one storage module) has none."""
        if self.keyring is None:
            raise RuntimeError("this Database was opened without a keyring")
        return self.keyring

    @classmethod
    async def connect(
        cls,
        dsn: str,
        sealer: Sealer,
        *,
        min_size: int,
        max_size: int,
        observe: QueryObserver | None = None,
        connect_timeout: float = 10.0,
    ) -> Database:
        """Open the pool; raise `Unavailable` if PostgreSQL does not answer."""
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                reset=_keep_clean,
                timeout=connect_timeout,
                command_timeout=30,
                server_settings={"timezone": "UTC", "application_name": "klear"},
            )
        except Exception as exc:  # driver, socket and DNS failures alike
            raise Unavailable(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc
        return cls(pool, sealer, observe)

    async def close(self) -> None:
        """Close every connection, waiting briefly for queries in flight."""
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10)
        except asyncio.TimeoutError:
            self.pool.terminate()

    @asynccontextmanager
    async def connection(self, name: str) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for one named unit of work, outside a transaction."""
        start = time.perf_counter()
        ok = False
        try:
            async with self.pool.acquire() as conn:
                yield conn
            ok = True
        except StorageError:
            raise
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise translate(exc) from exc
        finally:
            if self._observe is not None:
                self._observe(name, time.perf_counter() - start, ok)

    @asynccontextmanager
    async def transaction(self, name: str, *, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, committed when the block exits cleanly."""
        async with self.connection(name) as conn:
            async with conn.transaction(isolation=isolation):
                yield conn

    async def fetchrow(self, name: str, query: str, *args: Any) -> asyncpg.Record | None:
        """Run one statement and return its first row (one round trip)."""
        async with self.connection(name) as conn:
            return await conn.fetchrow(query, *args)

    async def fetch(self, name: str, query: str, *args: Any) -> list[asyncpg.Record]:
        """Run one statement and return all its rows."""
        async with self.connection(name) as conn:
            return await conn.fetch(query, *args)

    async def execute(self, name: str, query: str, *args: Any) -> str:
        """Run one statement for its effect; returns the command tag."""
        async with self.connection(name) as conn:
            return await conn.execute(query, *args)

    async def ping(self, timeout: float = 1.0) -> bool:
        """True when PostgreSQL answers a trivial query within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                async with self.pool.acquire(timeout=timeout) as conn:
                    await conn.fetchval("SELECT 1")
            return True
        except Exception:  # readiness probes report, they never raise
            return False

    def usage(self) -> tuple[int, int, int]:
        """(open connections, idle connections, maximum) for the pool metrics."""
        return self.pool.get_size(), self.pool.get_idle_size(), self.pool.get_max_size()


def require(row: asyncpg.Record | None, what: str) -> asyncpg.Record:
    """Return `row`, or raise `NotFound` naming `what`."""
    if row is None:
        raise NotFound(what)
    return row
