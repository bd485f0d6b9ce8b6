"""Running the server: one uvloop process, or a supervisor of N workers on one port.

A worker builds the app, opens its resources (failing loudly if one is
missing), starts listening, and on SIGTERM or SIGINT stops accepting, lets
in-flight requests finish, closes sockets, pool and Redis, and exits 0.

With `--workers N` a supervisor prepares what workers share (the embedded
database, generated keys, migrations), reserves the port, and starts N workers
that each bind it with SO_REUSEPORT, so the kernel spreads connections across
them. Workers that crash are restarted; SIGTERM is forwarded to all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import AsyncExitStack

import uvloop
from aiohttp import web

from . import keys
from .app import build_app
from .config import ConfigError, Settings
from .protocol import JsonErrorRunner
from .runtime import database_url, open_database

log = logging.getLogger("klear.serve")
STARTED = time.monotonic()


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to host:port (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def _stop_signal() -> asyncio.Future[int]:
    """Resolves with the first SIGTERM or SIGINT. The handlers stay installed, so a
    repeated signal during the graceful shutdown that follows is absorbed, not fatal."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[int] = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: got.done() or got.set_result(s))
    return got


async def _orphaned(parent: int) -> int:
    """Returns SIGTERM once the supervisor that started this worker has gone."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    return signal.SIGTERM


async def run_worker(settings: Settings, ready_fd: int | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully."""
    stop = _stop_signal()
    app = build_app(settings)
    runner = JsonErrorRunner(app, handle_signals=False, access_log=None, shutdown_timeout=settings.server.shutdown_timeout)
    await runner.setup()
    try:
        sock = bind(settings.server.host, settings.server.port, reuse_port=settings.server.workers > 1 or ready_fd is not None)
        site = web.SockSite(runner, sock, shutdown_timeout=settings.server.shutdown_timeout)
        await site.start()
        port = sock.getsockname()[1]
        log.info(
            "ready", extra={"event": "ready" if ready_fd is None else "worker_ready", "host": settings.server.host,
                            "port": port, "pid": os.getpid(), "startup_ms": round((time.monotonic() - STARTED) * 1000)},
        )
        waits: list[asyncio.Future[int]] = [stop]
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
            waits.append(asyncio.ensure_future(_orphaned(os.getppid())))
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        sig = done.pop().result()
        log.info("shutting down", extra={"event": "stopping", "signal": signal.Signals(sig).name})
    finally:
        await runner.cleanup()
    log.info("stopped", extra={"event": "stopped"})


async def _prepare_shared(settings: Settings, stack: AsyncExitStack) -> Settings:
    """Start what workers share, and return the settings they should run with."""
    secrets = keys.resolve(settings)
    url = await database_url(stack, settings)
    async with AsyncExitStack() as own:  # migrated and keys checked once, before any worker starts
        await open_database(own, url, secrets, min_size=1, max_size=1)
    return dataclasses.replace(settings, storage=dataclasses.replace(settings.storage, database_url=url))


def _worker_env(settings: Settings, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": settings.storage.database_url or "", "KLEAR_PORT": str(port), "KLEAR_HOST": settings.server.host,
                "KLEAR_DATA_DIR": str(settings.storage.data_dir), "KLEAR_LOG_LEVEL": settings.server.log_level, "KLEAR_WORKERS": "1"})
    return env


async def supervise(settings: Settings) -> None:
    """Run `settings.server.workers` worker processes on one port until SIGTERM/SIGINT."""
    if not settings.storage.redis_url:
        raise ConfigError("invalid setting KLEAR_WORKERS: more than one worker needs REDIS_URL, so workers share state")
    stopping = _stop_signal()
    async with AsyncExitStack() as stack:
        shared = await _prepare_shared(settings, stack)
        placeholder = bind(settings.server.host, settings.server.port, reuse_port=True)
        stack.callback(placeholder.close)
        port = placeholder.getsockname()[1]
        env = _worker_env(shared, port)
        workers: dict[int, subprocess.Popen[bytes]] = {}
        ready_r, ready_w = os.pipe()

        def spawn() -> subprocess.Popen[bytes]:
            cmd = [sys.executable, "-m", "server", "serve", "--ready-fd", str(ready_w)]
            proc = subprocess.Popen(cmd, env=env, pass_fds=(ready_w,))
            workers[proc.pid] = proc
            return proc

        for _ in range(settings.server.workers):
            spawn()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(ready_r, "rb", 0))
        stack.callback(transport.close)
        for _ in range(settings.server.workers):
            line = asyncio.ensure_future(reader.readline())
            await asyncio.wait([line, stopping], return_when=asyncio.FIRST_COMPLETED)
            if stopping.done():
                line.cancel()
                break
        else:
            log.info("ready", extra={"event": "ready", "port": port, "workers": settings.server.workers, "pid": os.getpid(),
                                     "startup_ms": round((time.monotonic() - STARTED) * 1000)})
        while not stopping.done():
            await asyncio.wait([stopping], timeout=0.5)
            for pid, proc in list(workers.items()):
                if proc.poll() is not None and not stopping.done():
                    log.warning("worker exited; restarting", extra={"pid": pid, "exit_code": proc.returncode})
                    del workers[pid]
                    spawn()
        for proc in workers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in workers.values():
            await asyncio.to_thread(proc.wait)
        os.close(ready_w)
    log.info("stopped", extra={"event": "stopped"})


def main(settings: Settings, ready_fd: int | None = None) -> None:
    """Run the server on uvloop; returns when it has shut down."""
    if settings.server.workers > 1 and ready_fd is None:
        uvloop.run(supervise(settings))
    else:
        uvloop.run(run_worker(settings, ready_fd))
