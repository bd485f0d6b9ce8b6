"""The email an account's owner gets when someone tries to register their address again.

Registration answers a new and a taken address the same way, so it cannot be
used to find out who has an account; the owner learns of the attempt by
email instead. The email is a durable job like every other (retried, seen in
the dead-job list), queued at most once an hour per account, so registering
someone's address over and over cannot flood their inbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr

from storage import accounts, jobs
from storage.database import Database
from storage.errors import NotFound
from storage.jobs import Job, NewJob

from .mailer import Mailer
from .worker import Handler

ACCOUNT_EXISTS = "email.account_exists"


async def tell_owner(db: Database, user_id: uuid.UUID, now: datetime) -> None:
    """Queue the "someone tried to register your address" email for `user_id`."""
    await jobs.enqueue(db, [NewJob(ACCOUNT_EXISTS, {"user_id": str(user_id)}, now,
                                   dedupe_key=f"{ACCOUNT_EXISTS}:{user_id}:{now:%Y-%m-%dT%H}")])


def render(job_id: int, *, recipient: str, display_name: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Someone tried to create an account with your email address"
    message["From"] = sender
    message["To"] = formataddr((display_name, recipient))
    message["Message-ID"] = f"<account-exists-{job_id}@klear-karma>"
    message.set_content(
        f"Hello {display_name},\n\n"
        "Someone asked to create a Klear Karma account with this email address, which already has one: yours.\n"
        "No new account was made and yours is unchanged.\n\n"
        "If it was you, just sign in with your existing password.\n"
        "If it was not, you need do nothing.\n\n— Klear Karma\n"
    )
    return message


def handler(db: Database, mailer: Mailer | None) -> Handler:
    """The job handler that sends the email."""

    async def send(job: Job) -> str:
        try:
            user = await accounts.get_user(db, uuid.UUID(job.payload["user_id"]))
        except NotFound:
            return "skipped_gone"
        if mailer is None:
            return "skipped_no_smtp"
        await mailer.send(render(job.id, recipient=user.email, display_name=user.display_name, sender=mailer.sender))
        return "sent"

    return send
