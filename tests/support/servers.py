"""Real server processes for tests: `klear serve` in a subprocess on a port of its choosing."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from .eventually import eventually
from .postgres import ROOT


class ServerProcess:
    """One `python -m server serve` process; its JSON log lines are kept in `logs`."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        self.env = env
        self.args = args or []
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.logs: list[dict[str, Any]] = []
        self.raw_logs: list[str] = []
        self._ready: asyncio.Future[int] | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KLEAR_") and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(self.env)
        env.setdefault("KLEAR_PORT", "0")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "serve", *self.args,
            env=env, cwd=str(ROOT), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, limit=1 << 20,
        )
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_logs())
        try:
            self.port = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except Exception:
            await self.kill()
            raise RuntimeError("server did not become ready:\n" + "\n".join(self.raw_logs[-30:])) from None
        return self

    async def _read_logs(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None and self._ready is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip("\n")
            self.raw_logs.append(text)
            try:
                entry = json.loads(text)
            except ValueError:
                continue
            self.logs.append(entry)
            if entry.get("event") == "ready" and not self._ready.done():
                self._ready.set_result(int(entry["port"]))
        if not self._ready.done():
            self._ready.set_exception(RuntimeError("server exited before it was ready"))

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit code."""
        if self.proc is None:
            return 0
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._finish_reading()
        return code

    async def _finish_reading(self) -> None:
        """Wait for the log reader; a stray child still holding stderr must not hang the test."""
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 5)
            except asyncio.TimeoutError:
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)

    async def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self._finish_reading()

    def log_text(self) -> str:
        return "\n".join(self.raw_logs)

    async def logs_flushed(self, timeout: float = 10.0) -> None:
        """Return once every line the server logged before this call has been read into `logs`.

        The signal is a probe: a request with a request id of its own, whose access-log line is written after
        everything logged before it (one process writes its log lines to stderr in order). With several
        workers it covers the worker that answered the probe only.
        """
        probe = f"log-probe-{secrets.token_hex(4)}"
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/healthz", headers={"X-Request-ID": probe}) as resp:
            assert resp.status == 200

        def probe_logged() -> None:
            assert any(e.get("request_id") == probe for e in self.logs), f"no access-log line for {probe}"

        await eventually(probe_logged, timeout=timeout)


async def run_cli(*args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run `python -m server ARGS...`; return (exit code, stdout, stderr)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KLEAR_") and k not in ("DATABASE_URL", "REDIS_URL")}
    full.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args, env=full, cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def data_dir_env(path: Path) -> dict[str, str]:
    return {"KLEAR_DATA_DIR": str(path)}


async def stop_all(servers: list[ServerProcess]) -> None:
    await asyncio.gather(*(s.stop() for s in servers if s.proc is not None and s.proc.returncode is None), return_exceptions=True)
    await asyncio.gather(*(s.kill() for s in servers), return_exceptions=True)


__all__ = ["ServerProcess", "run_cli", "stop_all", "signal"]
