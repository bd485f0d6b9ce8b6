"""Per-person data keys under a master key: rotating the master re-wraps the keys only, and everything stays
readable afterwards, after a restart and from a second process; the old master alone no longer starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from server.config import ConfigError

from ..conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "old-master-key-" + "a" * 40, "new-master-key-" + "b" * 40


def _klear(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'clients' / 'python'}"}
    return subprocess.run([sys.executable, "-m", "server", *args], env=full, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


async def _wrapped(database_url: str) -> dict[str, bytes]:
    conn = await asyncpg.connect(database_url)
    try:
        return {str(r["owner_id"]): bytes(r["wrapped"]) for r in await conn.fetch("SELECT owner_id, wrapped FROM data_keys")}
    finally:
        await conn.close()


async def test_rotating_the_master_key_keeps_everything_readable_after_restart_and_in_a_second_process(
    start_app, start_server, clients, server_env, database_url
):
    first = await start_app(KLEAR_DATA_KEY=OLD)
    c = clients(first.url)
    email = "rotate-me@example.org"
    await c.register(email, PASSWORD, "Rota", "client", "Europe/London")
    entry = await c.add_history("allergy", "Latex", "Hives")
    await first.stop()
    before = await _wrapped(database_url)
    assert c.session.user_id in before and len(before) == 2  # the system key and the client's

    missing = _klear({**server_env, "KLEAR_DATA_KEY": NEW}, "keys", "rotate")
    assert missing.returncode == 2 and "KLEAR_DATA_KEY_PREVIOUS" in missing.stderr
    done = _klear({**server_env, "KLEAR_DATA_KEY": NEW, "KLEAR_DATA_KEY_PREVIOUS": OLD}, "keys", "rotate")
    assert done.returncode == 0 and "re-wrapped 2 data keys" in done.stdout, done.stderr
    after = await _wrapped(database_url)
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    conn = await asyncpg.connect(database_url)
    try:
        versions = await conn.fetch("SELECT body_sealed FROM health_record_versions")
    finally:
        await conn.close()
    assert len(versions) == 1  # the sealed record itself was not rewritten, only its key

    with pytest.raises(ConfigError):
        await start_app(KLEAR_DATA_KEY=OLD)  # the old master alone opens nothing now: refused at start-up

    restarted = await start_app(KLEAR_DATA_KEY=NEW)
    again = clients(restarted.url)
    await again.login(email, PASSWORD)  # the email, sealed with the system key, still opens
    assert (await again.me())["email"] == email
    assert (await again.record(entry["id"]))["current"]["body"]["title"] == "Latex"

    second = await start_server(KLEAR_DATA_KEY=NEW)
    other = clients(second.url)
    await other.login(email, PASSWORD)
    assert (await other.record(entry["id"]))["current"]["body"]["text"] == "Hives"
