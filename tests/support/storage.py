"""The database of a test's servers, opened in the test process the way a server opens it: with its keys and
keyring, so storage reads that open sealed fields work as they do in the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from server import config, keys
from server.runtime import open_database
from storage.database import Database


@asynccontextmanager
async def opened(env: dict[str, str]) -> AsyncIterator[Database]:
    """The database `env` (a test's server environment) names, opened as its servers open it."""
    async with AsyncExitStack() as stack:
        db, _ = await open_database(stack, env["DATABASE_URL"], keys.resolve(config.load(env)), min_size=1, max_size=2)
        yield db
