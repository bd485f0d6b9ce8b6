"""The real mail stand-in for tests: an aiosmtpd SMTP server on a free local port."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from .redis import free_port


class Mailbox:
    """A real SMTP server (aiosmtpd) on a free local port; keeps every message it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.stalled = asyncio.Event()
        self.hold_first = False  # stall the first delivery until `release`, then refuse it (451)
        self._release = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's handler hook
        if self.hold_first:
            self.hold_first = False
            self._loop.call_soon_threadsafe(self.stalled.set)
            await asyncio.get_running_loop().run_in_executor(None, self._release.wait, 60)
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self._loop.call_soon_threadsafe(self._deliver, message)
        return "250 Message accepted for delivery"

    def release(self) -> None:
        self._release.set()

    def _deliver(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._release.set()
        self._controller.stop()

    @property
    def env(self) -> dict[str, str]:
        return {"KLEAR_SMTP_HOST": "127.0.0.1", "KLEAR_SMTP_PORT": str(self.port), "KLEAR_SMTP_SECURITY": "none",
                "KLEAR_MAIL_FROM": "Klear Karma <no-reply@klear.test>"}

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def subjects(self, containing: str = "") -> list[str]:
        """The subjects of the messages received so far that contain `containing`."""
        return [str(m["Subject"]) for m in self.messages if containing in str(m["Subject"])]
