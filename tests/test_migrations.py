"""Migrations: recorded, idempotent, tamper-evident, and safe when processes start together.
Functions: one file each, applied again when it changes, and databases from before the split upgrade."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import asyncpg
import pytest

import storage
import storage.migrate as migrate_module
from storage.errors import MigrationError
from storage.migrate import Function, Migration, available, available_functions, migrate

from .support.servers import ServerProcess
from .support.tools import require


@pytest.fixture
async def empty_db(postgres):
    url = await postgres.create(migrated=False)
    yield url
    await postgres.drop(url)


async def test_migrating_twice_applies_nothing_the_second_time(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        first = (await migrate(conn)).versions
        second = await migrate(conn)
        recorded = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()
    assert first == [m.version for m in available()] and not second
    assert recorded == first


async def test_an_edited_migration_is_refused(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn)
        edited = [Migration(m.version, m.name, m.sql + "\n-- edited") if m.version == 1 else m for m in available()]
        with pytest.raises(MigrationError, match="edited"):
            await migrate(conn, edited)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        broken = [*available(), Migration(9999, "broken", "CREATE TABLE half_done (id int); SELECT no_such_function();")]
        with pytest.raises(asyncpg.PostgresError):
            await migrate(conn, broken)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9999") == 0
    finally:
        await conn.close()


async def test_concurrent_start_of_several_processes_migrates_once(empty_db, server_env, tmp_path, clients):
    servers = [ServerProcess({**server_env, "DATABASE_URL": empty_db, "KLEAR_DATA_DIR": str(tmp_path / "d")}) for _ in range(3)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        conn = await asyncpg.connect(empty_db)
        try:
            rows = await conn.fetch("SELECT version, count(*) OVER (PARTITION BY version) AS n FROM schema_migrations")
        finally:
            await conn.close()
        assert sorted(r["version"] for r in rows) == [m.version for m in available()]
        assert all(r["n"] == 1 for r in rows)
        for s in servers:
            assert (await clients(s.url).raw("GET", "/readyz")).status == 200
    finally:
        await asyncio.gather(*(s.stop() for s in servers))


async def test_schema_uses_no_extension_beyond_plpgsql(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        extensions = {r["extname"] for r in await conn.fetch("SELECT extname FROM pg_extension")}
        non_utc = await conn.fetch(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = 'public' AND data_type IN ('timestamp without time zone', 'time with time zone')"""
        )
    finally:
        await conn.close()
    assert extensions <= {"plpgsql"}
    assert non_utc == []


async def test_queued_booking_jobs_of_the_old_kinds_become_one_timeline_per_booking(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, [m for m in available() if m.version < 29])
        a, b = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
        start = "2030-01-02T10:00:00+00:00"
        await conn.execute(
            """INSERT INTO jobs (kind, payload, dedupe_key, run_at, state) VALUES
               ('booking.finish', jsonb_build_object('booking_id', $1::text, 'start_at', $3::text), 'f', '2030-01-02T11:15Z', 'queued'),
               ('booking.reminder', jsonb_build_object('booking_id', $1::text, 'start_at', $3::text, 'reminder', '15m'), 'r15', '2030-01-02T09:45Z', 'queued'),
               ('booking.reminder', jsonb_build_object('booking_id', $1::text, 'start_at', $3::text, 'reminder', '24h'), 'r24', '2030-01-01T10:00Z', 'done'),
               ('booking.expire', jsonb_build_object('booking_id', $2::text), 'e', '2030-01-01T12:00Z', 'queued')""",
            a, b, start,
        )
        await migrate(conn)
        rows = await conn.fetch("SELECT kind, state, payload::text AS payload, run_at FROM jobs ORDER BY kind, run_at")
    finally:
        await conn.close()
    got = [(r["kind"], r["state"], json.loads(r["payload"])) for r in rows]
    assert [(k, s) for k, s, _ in got] == [("booking.reminder", "done"), ("booking.timeline", "queued"),
                                           ("booking.timeline", "queued")]
    timelines = {p["booking_id"]: p for _, _, p in got[1:]}
    assert [s["do"] for s in timelines[a]["steps"]] == ["reminder_15m", "finish"] and timelines[a]["start_at"] == start
    assert [s["do"] for s in timelines[b]["steps"]] == ["expire"] and timelines[b]["start_at"] is None
    assert sorted(r["run_at"].isoformat() for r in rows[1:]) == ["2030-01-01T12:00:00+00:00", "2030-01-02T09:45:00+00:00"]


_CREATES = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+([a-z0-9_]+)", re.IGNORECASE)


def test_every_function_is_created_in_one_file_of_its_own():
    homes: dict[str, list[str]] = {}
    for path in Path(storage.__file__).parent.rglob("*.sql"):
        for name in _CREATES.findall(path.read_text()):
            homes.setdefault(name.lower(), []).append(f"{path.parent.name}/{path.name}")
    assert homes and {name: files for name, files in homes.items() if len(files) > 1} == {}
    assert homes == {f.name: [f"functions/{f.name}.sql"] for f in available_functions()}


def test_the_version_of_a_removed_migration_is_never_reused(tmp_path, monkeypatch):
    # Databases that applied the removed 0024 would take a new 0024 for applied and skip it.
    (tmp_path / "0024_again.sql").write_text("SELECT 1;")
    monkeypatch.setattr(migrate_module.resources, "files", lambda _: tmp_path)
    with pytest.raises(MigrationError, match="removed"):
        available()


# The last commit whose numbered migrations defined functions, as databases deployed before the split have them.
_BEFORE_THE_SPLIT = "5ec8abb14c57f16dceeef07d02e644d4ecae8e14"


def _migrations_at(commit: str) -> list[Migration]:
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(Path(__file__).parents[1]), *args], capture_output=True, text=True)
        except OSError:
            require(["git"], "reading the migrations of an earlier commit")
        if done.returncode != 0:
            require([f"git history reaching {commit}"], "reading the migrations of an earlier commit")
        return done.stdout

    found = []
    for name in git("ls-tree", "--name-only", f"{commit}:storage/migrations").split():
        if match := re.match(r"^(\d{4})_([a-z0-9_]+)\.sql$", name):
            found.append(Migration(int(match[1]), match[2], git("show", f"{commit}:storage/migrations/{name}")))
    return sorted(found, key=lambda m: m.version)


async def _schema(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Tables, constraints, indexes and functions (with their full definitions) of the public schema."""
    queries = {
        "columns": """SELECT table_name, ordinal_position, column_name, data_type, column_default, is_nullable
                      FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2""",
        "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                          WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2",
        "functions": """SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
                        WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1""",
    }
    return {what: [tuple(r) for r in await conn.fetch(sql)] for what, sql in queries.items()}


async def test_a_database_migrated_before_the_split_upgrades_to_the_schema_of_a_fresh_one(empty_db, database_url):
    old = _migrations_at(_BEFORE_THE_SPLIT)
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, old, functions=[])
        await conn.execute("DROP TABLE schema_functions")  # the code of the time kept no such table
        assert "booking_create" in {f for f, in await conn.fetch("SELECT proname FROM pg_proc")}
        assert (await migrate(conn)).versions == [m.version for m in available() if m.version > old[-1].version]  # only newer
        upgraded = await _schema(conn)
        recorded = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_functions")}
    finally:
        await conn.close()
    conn = await asyncpg.connect(database_url)
    try:
        fresh = await _schema(conn)
    finally:
        await conn.close()
    assert upgraded == fresh
    assert recorded == {f.name: f.checksum for f in available_functions()}


async def test_a_changed_function_file_is_applied_again_and_a_removed_one_dropped(empty_db):
    shipped = available_functions()

    def probe(definition: str) -> list[Function]:
        return [*shipped, Function("probe", f"CREATE OR REPLACE FUNCTION probe{definition} LANGUAGE sql AS $$ SELECT 1 $$")]

    conn = await asyncpg.connect(empty_db)

    async def signatures() -> list[str]:
        rows = await conn.fetch("SELECT oid::regprocedure::text AS s, pg_get_function_result(oid) AS r FROM pg_proc "
                                "WHERE proname = 'probe'")
        return [f"{r['s']} -> {r['r']}" for r in rows]

    try:
        await migrate(conn, functions=probe("(a int) RETURNS int"))
        assert await signatures() == ["probe(integer) -> integer"]
        await migrate(conn, functions=probe("(a int, b int) RETURNS int"))  # new arguments
        assert await signatures() == ["probe(integer,integer) -> integer"]
        await migrate(conn, functions=probe("(a int, b int) RETURNS bigint"))  # new result, same arguments
        assert await signatures() == ["probe(integer,integer) -> bigint"]
        await migrate(conn, functions=probe("(c int, b int) RETURNS bigint"))  # a parameter renamed
        assert await conn.fetchval("SELECT proargnames FROM pg_proc WHERE proname = 'probe'") == ["c", "b"]
        await migrate(conn, functions=shipped)
        assert await signatures() == []
        assert await conn.fetchval("SELECT count(*) FROM schema_functions WHERE name = 'probe'") == 0
    finally:
        await conn.close()


async def test_a_function_is_applied_again_only_when_its_file_changes_and_then_in_place(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn)
        before = await conn.fetch("SELECT name, applied_at FROM schema_functions ORDER BY name")
        oid = await conn.fetchval("SELECT 'booking_create'::regproc::oid")
        assert not await migrate(conn)
        assert await conn.fetch("SELECT name, applied_at FROM schema_functions ORDER BY name") == before
        edited = Function("booking_create", next(f.sql for f in available_functions() if f.name == "booking_create")
                          + "\n-- edited")
        applied = await migrate(conn, functions=[f for f in available_functions() if f.name != edited.name] + [edited])
        assert applied.functions == ["booking_create"] and applied.describe() == "functions booking_create"
        assert await conn.fetchval("SELECT 'booking_create'::regproc::oid") == oid
        assert await conn.fetchval("SELECT checksum FROM schema_functions WHERE name = $1", edited.name) == edited.checksum
    finally:
        await conn.close()
