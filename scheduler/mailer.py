"""Sending email over SMTP with aiosmtplib, configured from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from storage.settings import Secret

from .settings import SchedulerSettings


@dataclass(frozen=True, slots=True)
class Mailer:
    """One SMTP relay; a connection per message (reminders are not bulk mail)."""

    host: str
    port: int
    security: str  # none, starttls or tls
    username: str | None
    password: Secret | None
    sender: str
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, s: SchedulerSettings) -> Mailer | None:
        """The configured mailer, or None when KLEAR_SMTP_HOST is unset (email is then not sent)."""
        if s.smtp_host is None:
            return None
        return cls(s.smtp_host, s.smtp_port, s.smtp_security, s.smtp_username, s.smtp_password, s.mail_from)

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message, hostname=self.host, port=self.port, username=self.username,
            password=self.password.reveal() if self.password else None,
            use_tls=self.security == "tls", start_tls=self.security == "starttls", timeout=self.timeout,
        )
