"""Our real server as a benchmark subject: `klear serve` plus users, tokens and conversations.

Setup goes straight through the storage layer (accounts with one shared
password hash, login sessions, signed access tokens, conversations with many
members) because creating thousands of accounts over the API would spend
minutes hashing passwords; none of it is measured. The server runs with fixed
keys so this script can sign tokens it accepts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass

import asyncpg

from common import ROOT, free_port, pinned, server_env, wait_http

sys.path.insert(0, str(ROOT))
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.tokens import Tokens  # noqa: E402
from server.config import load  # noqa: E402
from server.keys import resolve  # noqa: E402
from server.runtime import load_keyring  # noqa: E402
from storage import accounts, conversations  # noqa: E402
from storage.crypto import Sealer  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import migrate  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
KEYS = {"KLEAR_SECRET_KEY": "bench-secret-" + "s" * 40, "KLEAR_DATA_KEY": "bench-data-key-" + "d" * 40}


@dataclass
class User:
    id: uuid.UUID
    token: str


class Klear:
    """A fresh database, and `klear serve` processes on it."""

    def __init__(self, name: str) -> None:
        self.db_name = f"klear_bench_{name}_{secrets.token_hex(3)}"
        self.db_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.db_name
        self.env = {**KEYS, "DATABASE_URL": self.db_url, "KLEAR_DATA_DIR": f"/tmp/{self.db_name}",
                    "KLEAR_CHAT_RATE": "1000000/1", "KLEAR_LOGIN_RATE_IP": "100000/1",
                    "KLEAR_ACCESS_TOKEN_TTL": "7200", "KLEAR_LOG_LEVEL": "info"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._db: Database | None = None
        self._loop = asyncio.new_event_loop()

    def run(self, coro):  # type: ignore[no-untyped-def]
        """Run a setup coroutine on this fixture's own loop (the pool lives on it)."""
        return self._loop.run_until_complete(coro)

    async def create(self) -> None:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        await admin.close()
        conn = await asyncpg.connect(self.db_url)
        await migrate(conn)
        await conn.close()
        keys = resolve(load(env=self.env))
        self._db = await Database.connect(self.db_url, Sealer(keys.data), min_size=1, max_size=4)
        await load_keyring(self._db, keys)
        self._tokens = Tokens(keys.jwt, 7200)
        self._hash = await Passwords().hash("bench passphrase")

    async def drop(self) -> None:
        if self._db is not None:
            await self._db.close()
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        await admin.close()

    def close(self) -> None:
        """Stop the servers, drop the database, close the loop."""
        self.stop_all()
        self.run(self.drop())
        self._loop.close()

    def start(self, port: int, cpu: int | None, **extra: str) -> subprocess.Popen[bytes]:
        """`klear serve` on `port`, configured only by this fixture and `extra` (server_env)."""
        env = {**server_env({**self.env, **extra}), "KLEAR_PORT": str(port)}
        proc = subprocess.Popen(pinned([sys.executable, "-m", "server", "serve"], cpu), cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/readyz")
        return proc

    def cluster(self, processes: int, redis: str | None, cpus: list[int | None]) -> list[int]:
        """`processes` single-worker servers on their own ports, sharing `redis` (and one namespace in
        it) when given; process i pinned to cpus[i % len(cpus)]. Returns their ports."""
        extra = {"REDIS_URL": redis, "KLEAR_REDIS_PREFIX": f"bench{secrets.token_hex(3)}"} if redis else {}
        if processes > 1 and not redis:
            raise ValueError("more than one process needs Redis")
        ports = [free_port() for _ in range(processes)]
        for i, port in enumerate(ports):
            self.start(port, cpus[i % len(cpus)], **extra)
        return ports

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    async def users(self, n: int, role: str = "client") -> list[User]:
        assert self._db is not None
        out = []
        for i in range(n):
            user = await accounts.create_user(
                self._db, email=f"{role}{i}-{secrets.token_hex(3)}@bench.example", password_hash=self._hash,
                display_name=f"{role.title()} {i}", role=role, time_zone="UTC",
            )
            refresh, refresh_hash = self._tokens.new_refresh()
            session = await accounts.create_session(self._db, user.id, refresh_hash, 86400)
            token, _ = self._tokens.issue_access(user.id, role, session)
            out.append(User(user.id, token))
        return out

    async def conversation(self, members: list[User]) -> uuid.UUID:
        """A conversation of all `members` (a direct one between the first two, accepted, widened)."""
        assert self._db is not None
        conv, _ = await conversations.create_direct(self._db, members[0].id, members[1].id, e2ee=False)
        await conversations.accept(self._db, conv.id, members[1].id)
        await conversations.add_members(self._db, conv.id, [m.id for m in members[2:]])
        return conv.id

