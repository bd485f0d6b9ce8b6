"""The scheduler's settings: email delivery, the durable job runner, reminders, the scheduling clock and the caps."""

from __future__ import annotations

from dataclasses import dataclass

from storage.settings import Secret, choice, host, seconds, setting, text, text_secret, whole


def _sender(raw: str) -> str:
    if "@" not in raw or any(c in raw for c in "\r\n"):
        raise ValueError("must be an email address, optionally with a name: Klear Karma <no-reply@example.org>")
    return raw


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    smtp_host: str | None = setting("KLEAR_SMTP_HOST", host, None, "SMTP relay for email notifications. Unset: no email is sent.")
    smtp_port: int = setting("KLEAR_SMTP_PORT", whole(1, 65535), "587", "SMTP relay port.")
    smtp_security: str = setting(
        "KLEAR_SMTP_SECURITY", choice("starttls", "tls", "none"), "starttls", "SMTP transport security: starttls, tls or none."
    )
    smtp_username: str | None = setting("KLEAR_SMTP_USERNAME", text, None, "SMTP login. Unset: no authentication.")
    smtp_password: Secret | None = setting("KLEAR_SMTP_PASSWORD", text_secret, None, "SMTP password.")
    mail_from: str = setting(
        "KLEAR_MAIL_FROM", _sender, "Klear Karma <no-reply@localhost>", "Sender of notification emails."
    )
    job_poll_interval: float = setting(
        "KLEAR_JOB_POLL_INTERVAL", seconds(0.01, 60), "1", "Seconds between looks for due jobs (reminders, expiry, email)."
    )
    job_lease: int = setting(
        "KLEAR_JOB_LEASE", whole(1, 3600), "30", "Seconds a claimed job stays with its process without a heartbeat."
    )
    job_concurrency: int = setting(
        "KLEAR_JOB_CONCURRENCY", whole(0, 64), "4", "Jobs one process runs at a time; 0 runs none here (API only)."
    )
    job_retry_base: float = setting(
        "KLEAR_JOB_RETRY_BASE", seconds(0.01, 3600), "10", "Seconds before the first retry of a failed job; doubles each time."
    )
    reminder_grace: float = setting(
        "KLEAR_REMINDER_GRACE", seconds(0, 86400), "600",
        "Seconds a reminder may run late (after downtime) and still be sent; a later one is dropped and recorded.",
    )
    max_offerings: int = setting(
        "KLEAR_MAX_OFFERINGS", whole(1, 1000), "50",
        "Active offerings one practitioner may have; archived ones do not count. Bounds every profile listing.",
    )
    webhook_allow_loopback: bool = setting(
        "KLEAR_WEBHOOK_ALLOW_LOOPBACK", lambda raw: choice("true", "false")(raw) == "true", "false",
        "Lets webhook URLs point at loopback (and use plain http there). For tests and local development only: "
        "otherwise a webhook must be https to a public address, checked again after DNS at every delivery.",
    )
    webhook_retry_base: float = setting(
        "KLEAR_WEBHOOK_RETRY_BASE", seconds(0.001, 3600), "5",
        "Seconds before a failed webhook delivery is retried; four times longer each retry, at most 17,280 times "
        "this (a day by default).",
    )
    webhook_attempts: int = setting(
        "KLEAR_WEBHOOK_ATTEMPTS", whole(1, 100), "11",
        "Attempts at one webhook delivery before it fails and its subscription is disabled (11 with a 5 s base: "
        "retries over 3.3 days).",
    )
    webhook_concurrency: int = setting(
        "KLEAR_WEBHOOK_CONCURRENCY", whole(0, 256), "16",
        "Webhook deliveries one process sends at a time, in slots apart from the other jobs' ones; 0 sends none here "
        "(nor does KLEAR_JOB_CONCURRENCY=0).",
    )
    webhook_timeout: float = setting(
        "KLEAR_WEBHOOK_TIMEOUT", seconds(0.1, 60), "10", "Seconds a webhook receiver has to answer one delivery.",
    )
    clock_shift: float = setting(
        "KLEAR_CLOCK_SHIFT", seconds(-1e9, 1e9), "0",
        "Seconds added to the scheduling clock. For tests and rehearsals only; leave 0 in production.",
    )
