"""Shared fixtures: real PostgreSQL, real Redis, the app in-process or in real server processes, the SDK.

Tests marked `quick` (the tier `./klear test --quick` runs) use the in-process app
(`app`, `start_app`) and never start a server process; the guard below enforces it.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from klear_client import KlearClient

from .support.inprocess import InProcessServer, StartApp, running_apps
from .support.mailbox import Mailbox
from .support.postgres import TestPostgres
from .support.redis import shared_redis_url
from .support.servers import ServerProcess, run_cli, stop_all

PASSWORD = "correct horse battery staple"
_emails = itertools.count(1)
# Fixtures that start `klear serve` processes; a quick test may use none of them.
PROCESS_FIXTURES = frozenset({"server", "start_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = [item.nodeid for item in items
             if item.get_closest_marker("quick") and PROCESS_FIXTURES & set(getattr(item, "fixturenames", ()))]
    if wrong:
        raise pytest.UsageError("tests marked quick must not start server processes:\n  " + "\n  ".join(wrong))


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[TestPostgres]:
    pg = TestPostgres()
    await pg.start()
    yield pg
    await pg.stop()


@pytest.fixture(scope="session")
async def redis_url() -> AsyncIterator[str]:
    url, own = await shared_redis_url()
    yield url
    if own is not None:
        await own.stop()


@pytest.fixture
async def database_url(postgres: TestPostgres, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A database of this test's own, migrated (for a quick test: the scratch database, emptied for it)."""
    if request.node.get_closest_marker("quick"):
        yield await postgres.scratch()
        return
    url = await postgres.create()
    yield url
    await postgres.drop(url)


def server_env_for(database_url: str, data_dir: Path) -> dict[str, str]:
    """Settings of a test server on `database_url`: fixed keys, generous rate limits, a small pool."""
    return {
        "DATABASE_URL": database_url,
        "KLEAR_DATA_DIR": str(data_dir),
        "KLEAR_SECRET_KEY": "test-secret-" + "s" * 40,
        "KLEAR_DATA_KEY": "test-data-key-" + "d" * 40,
        "KLEAR_DB_POOL_MIN": "1",
        "KLEAR_LOGIN_RATE_IP": "1000/60",
        "KLEAR_LOGIN_RATE_ACCOUNT": "100/60",
        "KLEAR_LOGIN_RATE_ACCOUNT_IP": "100/60",
        "KLEAR_REGISTER_RATE_IP": "100000/60",
        "KLEAR_CHAT_RATE": "1000/1",
    }


@pytest.fixture
def server_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of this test's servers: its database, its data folder, fixed keys."""
    return server_env_for(database_url, tmp_path / "data")


@pytest.fixture
def redis_env(redis_url: str) -> dict[str, str]:
    """Settings that put this test's servers on the shared Redis, in a namespace of their own."""
    return {"REDIS_URL": redis_url, "KLEAR_REDIS_PREFIX": f"t{secrets.token_hex(4)}"}


StartServer = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def start_server(server_env: dict[str, str]) -> AsyncIterator[StartServer]:
    """Start real server processes for this test; all are stopped at its end."""
    started: list[ServerProcess] = []

    async def start(args: list[str] | None = None, **overrides: str) -> ServerProcess:
        server = ServerProcess({**server_env, **overrides}, args)
        started.append(server)
        return await server.start()

    yield start
    await stop_all(started)


@pytest.fixture
async def start_app(server_env: dict[str, str]) -> AsyncIterator[StartApp]:
    """Start the app inside this process (on this test's database); all are stopped at its end."""
    async with running_apps(server_env) as start:
        yield start


@pytest.fixture
async def app(start_app: StartApp) -> InProcessServer:
    """The app running inside the test process, without Redis."""
    return await start_app()


@pytest.fixture(scope="module")
async def shared_app(postgres: TestPostgres, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessServer]:
    """One in-process app and database for a whole module, for tests that only add their own users and data."""
    url = await postgres.create()
    env = server_env_for(url, tmp_path_factory.mktemp("data"))
    try:
        async with running_apps(env) as start:
            yield await start()
    finally:
        await postgres.drop(url)


@pytest.fixture
async def server(start_server: StartServer) -> ServerProcess:
    """One server process without Redis."""
    return await start_server()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], KlearClient]]:
    """Make SDK clients for a server URL; closed at the end of the test."""
    made: list[KlearClient] = []

    def make(url: str) -> KlearClient:
        client = KlearClient(url)
        made.append(client)
        return client

    yield make
    for c in made:
        await c.close()


def new_email(tag: str = "user") -> str:
    return f"{tag}{next(_emails)}-{secrets.token_hex(3)}@example.org"


async def signed_up(client: KlearClient, role: str = "client", tz: str = "Europe/London", name: str | None = None) -> KlearClient:
    """Register a fresh account on `client` and return it, signed in."""
    await client.register(new_email(role), PASSWORD, name or f"Test {role.title()}", role, tz)
    return client


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    """A real SMTP server for this test; point a server at it with `mailbox.env`."""
    box = Mailbox()
    await asyncio.to_thread(box.start)
    yield box
    await asyncio.to_thread(box.stop)


@pytest.fixture
async def admin_email(server_env: dict[str, str]) -> str:
    """The email of a fresh admin account (password `PASSWORD`) in this test's database, made with
    `klear create-admin`."""
    email = new_email("admin")
    code, _, err = await run_cli("create-admin", "--email", email, "--display-name", "Ops", "--password-stdin",
                                 env=server_env, stdin=(PASSWORD + "\n").encode())
    assert code == 0, err
    return email
