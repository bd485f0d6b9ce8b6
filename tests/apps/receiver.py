"""A real webhook receiver: an aiohttp server on loopback that verifies each delivery with the SDK's verifier.

`answers` decides each response: a list of statuses to answer in turn (then 200),
so a test can make the receiver fail, and `hold` can keep requests waiting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from klear_client import InvalidSignature, verify_webhook


@dataclass
class Received:
    webhook_id: str
    payload: dict[str, Any]
    status: int


@dataclass
class Receiver:
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    refused: int = 0
    waiting: int = 0  # requests held now
    hold: asyncio.Event | None = None
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def delivered(self) -> list[Received]:
        """What was answered with 200, in arrival order."""
        return [r for r in self.got if r.status == 200]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = verify_webhook(self.secret, request.headers, body)
        except InvalidSignature:
            self.refused += 1
            return web.Response(status=400, text="bad signature")
        if self.hold is not None and not self.hold.is_set():
            self.waiting += 1
            try:
                await self.hold.wait()
            finally:
                self.waiting -= 1
        status = self.answers.pop(0) if self.answers else 200
        self.got.append(Received(request.headers["webhook-id"], payload, status))
        return web.Response(status=status, text="ok" if status == 200 else "receiver says no")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()
