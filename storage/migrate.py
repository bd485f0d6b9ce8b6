"""The schema: numbered migrations, then the SQL functions, applied under a PostgreSQL advisory lock.

Tables and data: `storage/migrations/NNNN_description.sql`, applied once each
in version order, each in its own transaction, and recorded with its checksum
in `schema_migrations`; editing an applied file is refused rather than
silently ignored. They never define functions.

Functions: `storage/functions/<name>.sql`, the one home of function `<name>`.
Like Flyway's repeatable migrations, a file is applied again whenever its
checksum differs from the one recorded in `schema_functions`: after the
numbered migrations, all changed files in one transaction. The file's
`CREATE OR REPLACE` keeps the function's identity when only its body
changes; when its arguments change the old signature is dropped, and when
its result columns or parameter names change (which PostgreSQL will not
replace) it is dropped and created again. A recorded function whose file is
gone is dropped. The files of the last process to migrate win, so two
versions of the code with different function files should not start against
one database at the same time.

Databases from before this split: migrations 0011, 0023, 0024, 0026, 0028
and 0029 used to define functions too. 0011, 0024 and 0026 defined nothing
else and are gone; their rows in `schema_migrations` are left alone and their
versions are never reused (`_REMOVED`). 0023, 0028 and 0029 lost their
function definitions; the checksums they were applied with are accepted for
those versions (`_SUPERSEDED`), as the tables they created are unchanged. The
next run replaces every function from its file, so such a database ends with
the schema of a fresh one (tests/test_migrations.py checks this).

The advisory lock makes concurrent start-up of several processes safe: one
applies, the others wait and then find nothing left to do. A process that
has more to do before others may go on (the upgrade steps of
storage/upgrades.py, which need the data keys) holds it around `migrate`
with `locked`; the lock is re-entrant on its connection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

import asyncpg

from .errors import MigrationError

# Any fixed 64-bit number; it only has to be the same in every process.
_LOCK_KEY = 0x6B6C656172_0001
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_FUNCTION = re.compile(r"^([a-z0-9_]+)\.sql$")

# Versions of migrations that only defined functions (see above).
_REMOVED = frozenset({11, 24, 26})
# The checksum each of these versions was applied with before its functions moved out.
_SUPERSEDED = {
    23: "c7cf970b7bd16bf4f3e280dcfc3503503fb9c816f450fad81089074f97eebe03",
    28: "1b490a264792ad4c38a339ea5ce1ac62c3af3d86738ec86d6c109cb107e50368",
    29: "03f0713d3d1b848da1e018f13eff07f872345b2bb2b4360ea55da385103be674",
}


def _checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _checksum(self.sql)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _checksum(self.sql)


def available() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    if _REMOVED.intersection(versions):
        raise MigrationError("a migration reuses the version of a removed one")
    return found


def available_functions() -> list[Function]:
    """Every function file shipped with the package, in name order."""
    found = [
        Function(match.group(1), entry.read_text(encoding="utf-8"))
        for entry in resources.files("storage.functions").iterdir()
        if (match := _FUNCTION.match(entry.name)) is not None
    ]
    return sorted(found, key=lambda f: f.name)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one `migrate` call changed: migration versions, and functions (re)defined or dropped."""

    versions: list[int]
    functions: list[str]

    def __bool__(self) -> bool:
        return bool(self.versions or self.functions)

    def describe(self) -> str:
        parts = [f"migrations {', '.join(map(str, self.versions))}"] if self.versions else []
        parts += [f"functions {', '.join(self.functions)}"] if self.functions else []
        return "; ".join(parts) or "nothing"


@asynccontextmanager
async def locked(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Hold the migration lock on `conn` for the block: other processes migrating wait until it ends."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None, functions: list[Function] | None = None
) -> Applied:
    """Apply the missing migrations, then the changed functions; say what this call changed."""
    async with locked(conn):
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS schema_functions (
                name       text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        versions = await _apply_migrations(conn, available() if migrations is None else migrations)
        names = await _apply_functions(conn, available_functions() if functions is None else functions)
        return Applied(versions, names)


async def _apply_migrations(conn: asyncpg.Connection, todo: list[Migration]) -> list[int]:
    applied = {r["version"]: r["checksum"] for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")}
    done: list[int] = []
    for m in todo:
        if m.version in applied:
            if applied[m.version] not in (m.checksum, _SUPERSEDED.get(m.version)):
                raise MigrationError(f"migration {m.version:04d}_{m.name} was edited after it was applied")
            continue
        async with conn.transaction():
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                m.version,
                m.name,
                m.checksum,
            )
        done.append(m.version)
    return done


async def _apply_functions(conn: asyncpg.Connection, wanted: list[Function]) -> list[str]:
    recorded = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_functions")}
    changed = [f for f in wanted if recorded.get(f.name) != f.checksum]
    retired = sorted(recorded.keys() - {f.name for f in wanted})
    if not changed and not retired:
        return []
    async with conn.transaction():
        for name in retired:
            await _drop(conn, await _signatures(conn, name))
            await conn.execute("DELETE FROM schema_functions WHERE name = $1", name)
        for f in changed:
            await _define(conn, f)
            await conn.execute(
                """INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
                   ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()""",
                f.name,
                f.checksum,
            )
    return sorted([*retired, *(f.name for f in changed)])


async def _define(conn: asyncpg.Connection, f: Function) -> None:
    """Create or replace `f`, leaving no other function of its name: its file is all there is to it."""
    old = await _signatures(conn, f.name)
    try:
        async with conn.transaction():
            await conn.execute(f.sql)
    except asyncpg.InvalidFunctionDefinitionError:  # same arguments, new result columns or parameter names
        await _drop(conn, old)
        await conn.execute(f.sql)
        return
    if await _signatures(conn, f.name) != old:  # new arguments: the old signature is another function now
        await _drop(conn, old)


async def _signatures(conn: asyncpg.Connection, name: str) -> set[str]:
    rows = await conn.fetch(
        """SELECT p.oid::regprocedure::text AS signature FROM pg_proc p
           WHERE p.proname = $1 AND p.pronamespace = current_schema()::regnamespace""",
        name,
    )
    return {r["signature"] for r in rows}


async def _drop(conn: asyncpg.Connection, signatures: set[str]) -> None:
    for signature in sorted(signatures):
        await conn.execute(f"DROP FUNCTION {signature}")
