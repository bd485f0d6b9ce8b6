"""Real PostgreSQL for tests: one migrated template per run, one clone per test.

Quick tests share one more clone, the scratch database, emptied of every row before
each of them: cloning costs a few hundred milliseconds (PostgreSQL writes and syncs
the copy), emptying a few tables a millisecond. The schema is the migrated one either way.

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


def _owner_alive(name: str) -> bool:
    """Whether the test process that created database `name` (klear_t_<pid>_… or klear_tpl_<pid>_…) still runs."""
    parts = name.split("_")
    try:
        pid = int(parts[2])
    except (IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TestPostgres:
    """Creates the template once, then hands out isolated databases cloned from it."""

    def __init__(self) -> None:
        self.embedded: EmbeddedPostgres | None = None
        self.admin_url = os.environ.get("DATABASE_URL", "")
        self.template = f"klear_tpl_{os.getpid()}_{secrets.token_hex(3)}"
        self._lock = asyncio.Lock()
        self._scratch: str | None = None
        self._clear_sql = ""

    async def start(self) -> None:
        if not self.admin_url:
            self.embedded = EmbeddedPostgres(ROOT / ".test-data" / "postgres")
            self.admin_url = await asyncio.to_thread(self.embedded.start)
        conn = await asyncpg.connect(self.admin_url)
        try:
            for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'klear\\_t%'"):
                # Left behind by an interrupted run (its process is gone); runs in progress keep theirs.
                if not _owner_alive(row["datname"]):
                    await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        tpl = await asyncpg.connect(with_database(self.admin_url, self.template))
        try:
            await migrate(tpl)
        finally:
            await tpl.close()

    async def stop(self) -> None:
        if self._scratch is not None:
            await self.drop(self._scratch)
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        finally:
            await conn.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    async def create(self, *, migrated: bool = True) -> str:
        """A fresh database (a clone of the migrated template, or empty); returns its URL."""
        name = f"klear_t_{os.getpid()}_{secrets.token_hex(4)}"
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

    async def scratch(self) -> str:
        """The shared scratch database, with the migrated schema and no rows but the migrations'; returns its URL.

        The previous user must have closed its connections (in-process apps are stopped at the end of their test).
        """
        if self._scratch is None:
            self._scratch = await self.create()
            conn = await asyncpg.connect(self._scratch)
            try:
                kept = {"schema_migrations", "schema_functions"}
                relations = await conn.fetch(
                    """SELECT c.relname, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S') ORDER BY c.relname""")
                filled = [r["relname"] for r in relations if r["relkind"] != "S" and r["relname"] not in kept
                          and await conn.fetchval(f'SELECT EXISTS (SELECT FROM "{r["relname"]}")')]
                assert not filled, f"migrations left rows in {filled}: keep them when clearing the scratch database"
            finally:
                await conn.close()
            # Foreign keys are triggers; with replication_role=replica they do not fire, so order does not matter.
            self._clear_sql = "SET LOCAL session_replication_role = replica;" + "".join(
                f'DELETE FROM "{r["relname"]}";' for r in relations if r["relkind"] != "S" and r["relname"] not in kept
            ) + "".join(f"""SELECT setval('"{r["relname"]}"', 1, false);""" for r in relations if r["relkind"] == "S")
        conn = await asyncpg.connect(self._scratch)
        try:
            async with conn.transaction():
                await conn.execute(self._clear_sql)
        finally:
            await conn.close()
        return self._scratch
