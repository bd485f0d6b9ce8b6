"""Per-person data keys under a master key: what each person's key seals (records, names, emails, messages,
notes, reasons, notifications) reads back after a restart and from a second process; rotating the master
re-wraps the keys only, and all of it stays readable; the old master alone no longer starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from server.config import ConfigError

from klear_client import KlearClient

from ..channels.conftest import realtime  # noqa: F401  (fixture)
from ..conftest import PASSWORD
from .conftest import EMAIL, Personal, read_back, with_personal_data

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


async def _signed_in(clients, url: str, p: Personal, practitioner_email: str) -> tuple[KlearClient, KlearClient]:
    client, practitioner = clients(url), clients(url)
    await client.login(EMAIL, PASSWORD)
    await practitioner.login(practitioner_email, PASSWORD)
    return client, practitioner


async def test_sealed_personal_fields_read_back_after_a_restart_and_in_a_second_process(
    start_app, start_server, clients, realtime  # noqa: F811
):
    first = await start_app()
    personal = await with_personal_data(clients, first.url, realtime)
    practitioner_email = (await personal.practitioner.me())["email"]
    await first.stop()

    restarted = await start_app()  # a new process's keyring: every key is loaded from the database again
    await read_back(*await _signed_in(clients, restarted.url, personal, practitioner_email), personal)
    second = await start_server()
    await read_back(*await _signed_in(clients, second.url, personal, practitioner_email), personal)


async def test_rotating_the_master_key_keeps_everything_readable_after_restart_and_in_a_second_process(
    start_app, start_server, clients, server_env, database_url, realtime  # noqa: F811
):
    first = await start_app(KLEAR_DATA_KEY=OLD)
    c = clients(first.url)
    email = "rotate-me@example.org"
    await c.register(email, PASSWORD, "Rota", "client", "Europe/London")
    entry = await c.add_history("allergy", "Latex", "Hives")
    personal = await with_personal_data(clients, first.url, realtime)
    practitioner_email = (await personal.practitioner.me())["email"]
    await first.stop()
    before = await _wrapped(database_url)
    # the system key and one per person: Rota, the practitioner, the client with personal data
    assert c.session.user_id in before and personal.client.session.user_id in before and len(before) == 4

    missing = _klear({**server_env, "KLEAR_DATA_KEY": NEW}, "keys", "rotate")
    assert missing.returncode == 2 and "KLEAR_DATA_KEY_PREVIOUS" in missing.stderr
    done = _klear({**server_env, "KLEAR_DATA_KEY": NEW, "KLEAR_DATA_KEY_PREVIOUS": OLD}, "keys", "rotate")
    assert done.returncode == 0 and "re-wrapped 4 data keys" in done.stdout, done.stderr
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
    await again.login(email, PASSWORD)  # the email, sealed with the client's key, still opens
    assert ((await again.me())["email"], (await again.me())["display_name"]) == (email, "Rota")
    assert (await again.record(entry["id"]))["current"]["body"]["title"] == "Latex"
    await read_back(*await _signed_in(clients, restarted.url, personal, practitioner_email), personal)

    second = await start_server(KLEAR_DATA_KEY=NEW)
    other = clients(second.url)
    await other.login(email, PASSWORD)
    assert (await other.record(entry["id"]))["current"]["body"]["text"] == "Hives"
    await read_back(*await _signed_in(clients, second.url, personal, practitioner_email), personal)
