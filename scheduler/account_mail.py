"""The emails about an account itself: "someone tried to register your address" and "reset your password".

Registration answers a new and a taken address the same way, so it cannot be
used to find out who has an account; the owner learns of the attempt by
email instead. The email is a durable job like every other (retried, seen in
the dead-job list), queued at most once an hour per account, so registering
someone's address over and over cannot flood their inbox.

Confirming the address (on the account owner's request, at most once a
minute) works the same way with its own tokens, valid a week.

A password reset is the same kind of job, queued at most once a minute per
account. Its token is made when the email is sent, not when it is asked for,
so it never sits in the job queue; only its hash is stored
(storage/password_resets.py), valid for RESET_TTL seconds, once.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr

from storage import accounts, email_verification, jobs, password_resets
from storage.accounts import User
from storage.database import Database
from storage.errors import NotFound
from storage.jobs import Job, NewJob

from .mailer import Mailer
from .worker import Handler

ACCOUNT_EXISTS = "email.account_exists"
PASSWORD_RESET = "email.password_reset"
RESET_TTL = 3600  # seconds a reset link works
VERIFY_EMAIL = "email.verify"
VERIFY_TTL = 7 * 86400  # seconds a verification link works


async def tell_owner(db: Database, user_id: uuid.UUID, now: datetime) -> None:
    """Queue the "someone tried to register your address" email for `user_id`."""
    await jobs.enqueue(db, [NewJob(ACCOUNT_EXISTS, {"user_id": str(user_id)}, now,
                                   dedupe_key=f"{ACCOUNT_EXISTS}:{user_id}:{now:%Y-%m-%dT%H}")])


async def send_reset(db: Database, user_id: uuid.UUID, base_url: str, now: datetime) -> None:
    """Queue the password-reset email for `user_id`; its link opens the web app at `base_url`."""
    await jobs.enqueue(db, [NewJob(PASSWORD_RESET, {"user_id": str(user_id), "base_url": base_url}, now,
                                   dedupe_key=f"{PASSWORD_RESET}:{user_id}:{now:%Y-%m-%dT%H:%M}")])


async def send_verification(db: Database, user_id: uuid.UUID, base_url: str, now: datetime) -> None:
    """Queue the "confirm your email address" email for `user_id`."""
    await jobs.enqueue(db, [NewJob(VERIFY_EMAIL, {"user_id": str(user_id), "base_url": base_url}, now,
                                   dedupe_key=f"{VERIFY_EMAIL}:{user_id}:{now:%Y-%m-%dT%H:%M}")])


def _email(message_id: str, subject: str, *, recipient: str, display_name: str, sender: str, text: str) -> EmailMessage:
    """One account email: to the account's owner by name, with a stable Message-ID (a retried job's resend is
    recognisably the same email)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = formataddr((display_name, recipient))
    message["Message-ID"] = f"<{message_id}@klear-karma>"
    message.set_content(f"Hello {display_name},\n\n{text}\n— Klear Karma\n")
    return message


def render(job_id: int, *, recipient: str, display_name: str, sender: str) -> EmailMessage:
    return _email(
        f"account-exists-{job_id}", "Someone tried to create an account with your email address",
        recipient=recipient, display_name=display_name, sender=sender,
        text="Someone asked to create a Klear Karma account with this email address, which already has one: yours.\n"
             "No new account was made and yours is unchanged.\n\n"
             "If it was you, just sign in with your existing password.\n"
             "If it was not, you need do nothing.\n",
    )


def render_reset(job_id: int, *, recipient: str, display_name: str, sender: str, link: str) -> EmailMessage:
    return _email(
        f"password-reset-{job_id}", "Reset your Klear Karma password",
        recipient=recipient, display_name=display_name, sender=sender,
        text="Someone asked to reset the password of your Klear Karma account. To choose a new one, open:\n\n"
             f"{link}\n\n"
             f"The link works once, for {RESET_TTL // 60} minutes. Choosing a new password signs you out everywhere.\n"
             "If you did not ask, you need do nothing: your password is unchanged.\n",
    )


def render_verification(job_id: int, *, recipient: str, display_name: str, sender: str, link: str) -> EmailMessage:
    return _email(
        f"verify-email-{job_id}", "Confirm your email address for Klear Karma",
        recipient=recipient, display_name=display_name, sender=sender,
        text=f"To confirm that this address is yours, open:\n\n{link}\n\n"
             f"The link works once, for {VERIFY_TTL // 86400} days. If you did not create an account, ignore this email.\n",
    )


Compose = Callable[[Job, User, Mailer], Awaitable[EmailMessage | str]]  # the email, or the outcome of a skip


def _handler(db: Database, mailer: Mailer | None, compose: Compose) -> Handler:
    """A job handler that emails the account owner what `compose` makes (skipped for a deleted account or
    when no SMTP server is set)."""

    async def send(job: Job) -> str:
        try:
            user = await accounts.get_user(db, uuid.UUID(job.payload["user_id"]))
        except NotFound:
            return "skipped_gone"
        if mailer is None:
            return "skipped_no_smtp"
        message = await compose(job, user, mailer)
        if isinstance(message, str):
            return message
        await mailer.send(message)
        return "sent"

    return send


def _link(job: Job, fragment: str, token: str) -> str:
    return f"{job.payload['base_url'].rstrip('/')}/app/#{fragment}={token}"


def handler(db: Database, mailer: Mailer | None) -> Handler:
    """The job handler of the "someone tried to register your address" email."""

    async def compose(job: Job, user: User, mailer: Mailer) -> EmailMessage:
        return render(job.id, recipient=user.email, display_name=user.display_name, sender=mailer.sender)

    return _handler(db, mailer, compose)


def reset_handler(db: Database, mailer: Mailer | None) -> Handler:
    """The job handler that makes a reset token and emails its link (a retry makes a new one; unused ones lapse)."""

    async def compose(job: Job, user: User, mailer: Mailer) -> EmailMessage:
        token = secrets.token_urlsafe(32)
        await password_resets.issue(db, user.id, token, RESET_TTL)
        return render_reset(job.id, recipient=user.email, display_name=user.display_name, sender=mailer.sender,
                            link=_link(job, "reset", token))

    return _handler(db, mailer, compose)


def verify_handler(db: Database, mailer: Mailer | None) -> Handler:
    """The job handler that makes a verification token and emails its link."""

    async def compose(job: Job, user: User, mailer: Mailer) -> EmailMessage | str:
        if await email_verification.is_verified(db, user.id):
            return "skipped_verified"
        token = secrets.token_urlsafe(32)
        await email_verification.issue(db, user.id, token, VERIFY_TTL)
        return render_verification(job.id, recipient=user.email, display_name=user.display_name,
                                   sender=mailer.sender, link=_link(job, "verify", token))

    return _handler(db, mailer, compose)
