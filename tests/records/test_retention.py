"""Retention: each kind of data goes once it has been over for its period, by a daily durable job; the
dry-run report counts without removing."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from server.appkeys import RUNTIME
from storage import retention

from ..support.eventually import eventually
from .conftest import booked_pair

pytestmark = pytest.mark.quick


async def _count(database_url: str, sql: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_the_daily_job_removes_what_is_past_its_period_and_the_dry_run_only_counts(start_app, clients, database_url):
    app = await start_app(KLEAR_RETENTION="notifications=30,sessions=30")
    pair = await booked_pair(clients, app.url)
    await pair.practitioner.mark_notifications_read()
    await pair.client.logout()
    read = "SELECT count(*) FROM notifications WHERE read_at IS NOT NULL"
    revoked = "SELECT count(*) FROM auth_sessions WHERE revoked_at IS NOT NULL"
    assert await _count(database_url, read) >= 1 and await _count(database_url, revoked) == 1
    unread_before = await _count(database_url, "SELECT count(*) FROM notifications WHERE read_at IS NULL")

    db, periods = app.app[RUNTIME].db, app.settings.records.retention
    assert await retention.sweep(db, periods, app.clock.now(), apply=False) == {"notifications": 0, "sessions": 0}
    report = await retention.sweep(db, periods, app.clock.now() + timedelta(days=31), apply=False)
    assert report["notifications"] >= 1 and report["sessions"] == 1
    assert await _count(database_url, read) >= 1  # a dry run removes nothing

    await app.clock.advance(timedelta(days=31))

    async def swept() -> None:
        assert await _count(database_url, read) == 0 and await _count(database_url, revoked) == 0

    await eventually(swept)
    assert await _count(database_url, "SELECT count(*) FROM notifications WHERE read_at IS NULL") >= unread_before
    job = await _count(database_url, "SELECT count(*) FROM jobs WHERE kind = 'records.retention' AND state = 'queued'")
    assert job == 1  # and it is queued again for tomorrow
