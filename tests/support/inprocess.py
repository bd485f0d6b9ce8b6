"""The whole server inside the test process: the real app on a loopback port, on the test's own database.

This is the quick tier's server. It is built exactly as `klear serve` builds it
(`server.config.load` + `server.app.build_app`), runs its real lifespan (pool,
migrations check, bus, channels, job runner, video) and is served by an aiohttp
`AppRunner` on a free port of 127.0.0.1 (runner options as in server/serve.py), so
the SDK and Socket.IO clients talk to it over real HTTP. What a process adds on top (signals, workers, stderr logging set-up) is
covered by the tests that start `klear serve` (tests/support/servers.py).

Everything that knows how the app is put together lives in this module, so a
change to how the server composes its settings or components is adapted here once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg
from aiohttp import web

from storage.clock import Clock
from server.appkeys import SCHEDULER
from server.app import build_app
from server.config import Settings, load
from server.logs import JsonFormatter
from server.protocol import JsonErrorRunner

from .eventually import eventually


class TestClock:
    """The app's own scheduling clock (the one `KLEAR_CLOCK_SHIFT` sets), moved by the test instead of waited on.

    Notice, horizons, session windows, reminders, job due times and job leases all read this clock, so
    moving it makes a job fall due at once for the app's job runner. It moves only while no job is running
    (a jump would also expire the lease of a running job, and another runner slot would take it over).
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, clock: Clock, database_url: str) -> None:
        self._clock = clock
        self._database_url = database_url

    def now(self) -> datetime:
        return self._clock.now()

    async def advance(self, by: timedelta) -> None:
        await self._idle()
        self._clock.shift += by

    async def set(self, instant: datetime) -> None:
        """Make the clock read `instant` now (it keeps running from there)."""
        await self._idle()
        self._clock.shift += instant - self._clock.now()

    async def _idle(self) -> None:
        async def no_job_running() -> None:
            conn = await asyncpg.connect(self._database_url)
            try:
                running = await conn.fetch("SELECT id, kind FROM jobs WHERE state = 'running'")
            finally:
                await conn.close()
            assert not running, f"jobs still running: {running}"

        await eventually(no_job_running)


class _Records(logging.Handler):
    """Keeps the app's log records as the JSON lines `klear serve` would write."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class InProcessServer:
    """The app served on a free loopback port; `url` works wherever a `ServerProcess.url` does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.settings: Settings = load(env=env)
        self.app: web.Application = build_app(self.settings)
        self._runner = JsonErrorRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=self.settings.server.shutdown_timeout)
        self._records = _Records()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def clock(self) -> TestClock:
        assert self.settings.storage.database_url is not None
        return TestClock(self.app[SCHEDULER].deps.clock, self.settings.storage.database_url)

    def log_text(self) -> str:
        """Everything the app logged through `logging` while it ran, one JSON object a line."""
        return "\n".join(self._records.lines)

    async def start(self) -> InProcessServer:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self._records)
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        try:
            await self._runner.setup()  # the app's lifespan: pool, migrations, bus, channels, jobs, video
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._detach_logs()
            raise
        self.port = self._runner.addresses[0][1]
        return self

    async def also_listen(self, host: str) -> int:
        """Serve the same app on `host` too (for a test that needs a client off loopback); returns its port.
        It stops with the app."""
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        return next(address[1] for address in self._runner.addresses if address[0] == host)

    async def stop(self) -> None:
        if self.port == 0:
            return
        self.port = 0
        try:
            await self._runner.cleanup()
        finally:
            self._detach_logs()

    def _detach_logs(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._records)
        root.setLevel(self._level)


# Settings of every in-process app unless a test overrides them: the app's per-request access line goes to
# stderr at info level, which only a process needs; the job runner looks for due jobs often, so a job made due
# by `clock.advance` runs within a few milliseconds.
QUICK_DEFAULTS = {
    "KLEAR_LOG_LEVEL": "warning",
    "KLEAR_JOB_POLL_INTERVAL": "0.02",
    "KLEAR_JOB_RETRY_BASE": "0.05",
}

StartApp = Callable[..., Awaitable[InProcessServer]]


@asynccontextmanager
async def running_apps(server_env: dict[str, str]) -> AsyncIterator[StartApp]:
    """Start in-process apps on `server_env` plus overrides; all are stopped on the way out."""
    started: list[InProcessServer] = []

    async def start(**overrides: str) -> InProcessServer:
        app = InProcessServer({**server_env, **QUICK_DEFAULTS, **overrides})
        started.append(app)
        return await app.start()

    try:
        yield start
    finally:
        for app in reversed(started):
            await app.stop()
