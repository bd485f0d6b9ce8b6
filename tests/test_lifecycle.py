"""Start-up, settings, graceful shutdown, generated keys, the embedded database, the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import stat

import aiohttp
import asyncpg
import pytest

from .conftest import PASSWORD, new_email, signed_up
from .support.eventually import eventually
from .support.servers import ServerProcess, run_cli


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KLEAR_PORT": "eighty"}, "KLEAR_PORT"),
        ({"KLEAR_PORT": "70000"}, "KLEAR_PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"KLEAR_LOG_LEVEL": "chatty"}, "KLEAR_LOG_LEVEL"),
        ({"KLEAR_SECRET_KEY": "short"}, "KLEAR_SECRET_KEY"),
        ({"KLEAR_LOGIN_RATE_IP": "lots"}, "KLEAR_LOGIN_RATE_IP"),
        ({"KLEAR_DB_POOL_MIN": "5", "KLEAR_DB_POOL_MAX": "2"}, "KLEAR_DB_POOL_MIN"),
    ],
)
async def test_invalid_setting_stops_startup_with_one_line_naming_it(tmp_path, env, named):
    code, out, err = await run_cli("serve", env={"KLEAR_DATA_DIR": str(tmp_path), **env})
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], err
    assert "short" not in lines[0] or named != "KLEAR_SECRET_KEY"


async def test_invalid_flag_names_the_flag(tmp_path):
    code, _, err = await run_cli("serve", "--port", "-3", env={"KLEAR_DATA_DIR": str(tmp_path)})
    assert code == 2 and "--port" in err and len(err.strip().splitlines()) == 1


async def test_unreachable_database_stops_startup_with_one_line(tmp_path):
    code, _, err = await run_cli("serve", env={"KLEAR_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert code == 1 and "PostgreSQL" in err and len(err.strip().splitlines()) == 1


async def test_sigterm_finishes_in_flight_requests_then_exits_zero(server, clients, database_url):
    c = clients(server.url)
    body = {"email": new_email(), "password": PASSWORD, "display_name": "Late", "role": "client", "time_zone": "UTC"}
    # Registration hashes a password (~100 ms), so it is still running when SIGTERM lands.
    pending = asyncio.create_task(c.raw("POST", "/api/v1/auth/register", json_body=body))
    await asyncio.sleep(0.03)
    server.proc.send_signal(signal.SIGTERM)
    assert (await pending).status == 202
    assert await server.stop() == 0
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM users") == 1
    finally:
        await conn.close()
    events = [e.get("event") for e in server.logs]
    assert events.index("stopping") < events.index("stopped")
    with pytest.raises(aiohttp.ClientConnectionError):
        await clients(server.url).raw("GET", "/healthz")


async def test_sigint_also_exits_zero(server):
    assert await server.stop(signal.SIGINT) == 0


async def test_generated_keys_are_private_and_reused_after_restart(start_server, clients, server_env, tmp_path):
    env = {k: v for k, v in server_env.items() if k not in ("KLEAR_SECRET_KEY", "KLEAR_DATA_KEY")}
    data_dir = tmp_path / "fresh"
    first = ServerProcess({**env, "KLEAR_DATA_DIR": str(data_dir)})
    await first.start()
    c = await signed_up(clients(first.url))
    assert await first.stop() == 0
    for name in ("secret.key", "data.key"):
        mode = stat.S_IMODE(os.stat(data_dir / name).st_mode)
        assert mode == 0o600, oct(mode)

    second = ServerProcess({**env, "KLEAR_DATA_DIR": str(data_dir)})
    await second.start()
    try:
        again = clients(second.url)
        again.session = c.session
        assert (await again.me())["email"] == c.session.user["email"]  # same signing and data keys
    finally:
        assert await second.stop() == 0


async def test_embedded_database_keeps_data_across_restarts(tmp_path, clients):
    env = {"KLEAR_DATA_DIR": str(tmp_path / "laptop"), "KLEAR_DB_POOL_MIN": "1"}
    first = ServerProcess(env)
    await first.start(timeout=60)
    email = new_email()
    await clients(first.url).register(email, PASSWORD, "Local", "practitioner", "UTC")
    assert await first.stop() == 0
    assert (tmp_path / "laptop" / "postgres" / "PG_VERSION").exists()

    second = ServerProcess(env)
    await second.start(timeout=60)
    try:
        session = await clients(second.url).login(email, PASSWORD)
        assert session.user["role"] == "practitioner"
        startup = [e for e in second.logs if e.get("event") == "ready"][0]["startup_ms"]
        assert startup > 0
    finally:
        assert await second.stop() == 0


async def test_create_admin_makes_an_account_with_the_admin_role(server, clients, server_env):
    email = new_email("admin")
    code, out, err = await run_cli(
        "create-admin", "--email", email, "--display-name", "Root", "--password-stdin",
        env=server_env, stdin=f"{PASSWORD}\n".encode(),
    )
    assert code == 0, err
    assert "created admin" in out
    session = await clients(server.url).login(email, PASSWORD)
    assert session.user["role"] == "admin"
    code, _, err = await run_cli(
        "create-admin", "--email", email, "--display-name", "Again", "--password-stdin",
        env=server_env, stdin=f"{PASSWORD}\n".encode(),
    )
    assert code == 2 and "already exists" in err


async def test_create_admin_refuses_a_weak_password(server_env):
    code, _, err = await run_cli(
        "create-admin", "--email", new_email(), "--display-name", "Root", "--password-stdin", env=server_env, stdin=b"short\n"
    )
    assert code == 2 and "password" in err


async def test_workers_share_one_port_and_stop_together(start_server, clients, redis_env):
    server = await start_server(["--workers", "2"], **redis_env)
    c = await signed_up(clients(server.url))
    results = await asyncio.gather(*(clients(server.url).raw("GET", "/healthz") for _ in range(40)))
    assert all(r.status == 200 for r in results)
    assert (await c.me())["id"] == c.session.user_id
    workers = {e["pid"] for e in server.logs if e.get("event") == "worker_ready"}
    assert len(workers) == 2
    assert await server.stop() == 0

    def workers_gone() -> None:
        alive = []
        for pid in workers:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        assert not alive, f"workers still running: {alive}"

    await eventually(workers_gone, timeout=2)


async def test_workers_without_redis_are_refused(tmp_path):
    code, _, err = await run_cli("serve", "--workers", "2", env={"KLEAR_DATA_DIR": str(tmp_path)})
    assert code == 2 and "KLEAR_WORKERS" in err


async def test_klear_migrate_applies_migrations_to_an_empty_database(postgres, server_env):
    url = await postgres.create(migrated=False)
    try:
        code, out, _ = await run_cli("migrate", env={**server_env, "DATABASE_URL": url})
        assert code == 0 and "applied migrations" in out
        code, out, _ = await run_cli("migrate", env={**server_env, "DATABASE_URL": url})
        assert code == 0 and "up to date" in out
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
        finally:
            await conn.close()
    finally:
        await postgres.drop(url)
