"""Migrations: recorded, idempotent, tamper-evident, and safe when processes start together."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from storage.errors import MigrationError
from storage.migrate import Migration, available, migrate

from .support.servers import ServerProcess


@pytest.fixture
async def empty_db(postgres):
    url = await postgres.create(migrated=False)
    yield url
    await postgres.drop(url)


async def test_migrating_twice_applies_nothing_the_second_time(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        first = await migrate(conn)
        second = await migrate(conn)
        recorded = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()
    assert first == [m.version for m in available()] and second == []
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
