"""Real PostgreSQL for tests: one migrated template per run, one clone per test.

With DATABASE_URL set (CI) its server is used; otherwise an embedded pgserver
cluster under .test-data/ is started once and reused by later runs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.embedded import EmbeddedPostgres
from storage.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (keeps host, port, user and query)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class TestPostgres:
    """Creates the template once, then hands out isolated databases cloned from it."""

    def __init__(self) -> None:
        self.embedded: EmbeddedPostgres | None = None
        self.admin_url = os.environ.get("DATABASE_URL", "")
        self.template = f"klear_tpl_{os.getpid()}_{secrets.token_hex(3)}"
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if not self.admin_url:
            self.embedded = EmbeddedPostgres(ROOT / ".test-data" / "postgres")
            self.admin_url = await asyncio.to_thread(self.embedded.start)
        conn = await asyncpg.connect(self.admin_url)
        try:
            for name in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'klear_t%'"):
                # left behind by an interrupted run; they would only take disk space
                await conn.execute(f'DROP DATABASE IF EXISTS "{name["datname"]}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        tpl = await asyncpg.connect(with_database(self.admin_url, self.template))
        try:
            await migrate(tpl)
        finally:
            await tpl.close()

    async def stop(self) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        finally:
            await conn.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    async def create(self, *, migrated: bool = True) -> str:
        """A fresh database (a clone of the migrated template, or empty); returns its URL."""
        name = f"klear_t_{secrets.token_hex(5)}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            async with self._lock:  # CREATE DATABASE ... TEMPLATE needs the template idle
                if migrated:
                    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY FILE_COPY')
                else:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return with_database(self.admin_url, name)

    async def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
