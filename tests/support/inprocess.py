"""The whole server inside the test process: the real app on a loopback port, on the test's own database.

This is the quick tier's server. It is built exactly as `klear serve` builds it
(`server.config.load` + `server.app.build_app`), runs its real lifespan (pool,
migrations check, bus, channels, job runner, video) and is served by aiohttp's
`TestServer` on 127.0.0.1, so the SDK and Socket.IO clients talk to it over real
HTTP. What a process adds on top (signals, workers, stderr logging set-up) is
covered by the tests that start `klear serve` (tests/support/servers.py).

Everything that knows how the app is put together lives in this module, so a
change to how the server composes its settings or components is adapted here once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from scheduler.clock import Clock
from scheduler.component import SCHEDULER
from server.app import build_app
from server.config import Settings, load
from server.logs import JsonFormatter


class TestClock:
    """The app's own scheduling clock (the one `KLEAR_CLOCK_SHIFT` sets), moved by the test instead of waited on.

    Notice, horizons, session windows, reminders and job due times all read this
    clock, so `advance` makes a job fall due at once for the app's job runner.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> Any:
        return self._clock.now()

    def advance(self, by: timedelta | float) -> None:
        self._clock.shift += by if isinstance(by, timedelta) else timedelta(seconds=by)

    def set(self, instant: Any) -> None:
        """Make the clock read `instant` now (it keeps running from there)."""
        self._clock.shift += instant - self._clock.now()


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
        self._server = TestServer(self.app, host="127.0.0.1", access_log=None)
        self._records = _Records()

    @property
    def url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    @property
    def port(self) -> int:
        assert self._server.port is not None
        return self._server.port

    @property
    def clock(self) -> TestClock:
        return TestClock(self.app[SCHEDULER].deps.clock)

    def log_text(self) -> str:
        """Everything the app logged through `logging` while it ran, one JSON object a line."""
        return "\n".join(self._records.lines)

    async def start(self) -> InProcessServer:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self._records)
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        await self._server.start_server()
        return self

    async def stop(self) -> None:
        try:
            await self._server.close()
        finally:
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
