"""A browser script run in steps: it prints each step as a JSON line and, where the test must act first, waits
for a line ("go") on its input."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class SteppedScript:
    """A running `node <script>`: read its steps, let it go on, and kill it if it has not ended."""

    def __init__(self, proc: asyncio.subprocess.Process, *, step_timeout: float = 120) -> None:
        self.proc = proc
        self.step_timeout = step_timeout

    async def next(self) -> dict[str, Any]:
        """The script's next step; fails the test on its "error" step or if it ended without one."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), self.step_timeout)
        assert line, "the script ended without a word"
        said: dict[str, Any] = json.loads(line)
        assert said["event"] != "error", json.dumps(said, indent=1)
        return said

    async def go_on(self) -> None:
        """Tell the script the test has done its part."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
