"""Job handlers. Each is idempotent: it re-reads current state, acts only if the job still applies, and
returns an outcome word that is stored on the job (sent, skipped_cancelled, ...).

Delivery is at-least-once, so a handler may run again after a crash. Reminders
write their notifications under dedupe keys and emails carry a stable
Message-ID; a state change refused by the state machine (someone else got
there first) is a skip, not a failure.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from storage import bookings, notifications
from storage.jobs import Job

from . import emails, live, notices, timeline
from .bookings import Deps, act
from .mailer import Mailer
from .notices import Gist
from .states import Action, Status, TransitionRefused
from .worker import Handler

EMAIL = "email.send"


def _booking_id(job: Job) -> uuid.UUID:
    return uuid.UUID(job.payload["booking_id"])


def handlers(deps: Deps, mailer: Mailer | None) -> dict[str, Handler]:
    """The handler of every job kind, bound to the service's dependencies."""

    async def remind(job: Job) -> str:
        detail = await bookings.get_with_participants(deps.db, _booking_id(job))
        if detail is None:
            return "skipped_gone"
        b = detail.booking
        if b.status != Status.CONFIRMED:
            return f"skipped_{b.status}"
        if b.start_at != datetime.fromisoformat(job.payload["start_at"]):
            return "skipped_moved"
        async with deps.db.transaction("jobs.remind") as conn:
            written = await notifications.write(
                conn, notices.reminders(job.payload["reminder"], Gist.of(detail)), deps.clock.now(), email=deps.email
            )
        await live.publish_notices(deps.bus, written)
        return "notified" if written else "already_notified"

    async def transition(job: Job, action: Action) -> str:
        try:
            await act(deps, _booking_id(job), action, actor=None)
        except TransitionRefused as refused:
            return f"skipped_{refused.code}"
        return action.value

    async def expire(job: Job) -> str:
        return await transition(job, Action.EXPIRE)

    async def finish(job: Job) -> str:
        detail = await bookings.get_with_participants(deps.db, _booking_id(job))
        if detail is None:
            return "skipped_gone"
        b = detail.booking
        if b.status == Status.IN_SESSION:
            return await transition(job, Action.COMPLETE)
        if b.status == Status.CONFIRMED:
            # Nobody started a video session: no-show. In person there is nothing to start: assume it took place.
            return await transition(job, Action.NO_SHOW if b.mode == "video" else Action.COMPLETE)
        return f"skipped_{b.status}"

    async def email(job: Job) -> str:
        found = await notifications.for_email(deps.db, uuid.UUID(job.payload["notification_id"]))
        if found is None:
            return "skipped_gone"
        if found.emailed:
            return "already_sent"
        if mailer is None:
            return "skipped_no_smtp"
        message = emails.render(
            found.notice, recipient=found.email, display_name=found.display_name, time_zone=found.time_zone,
            sender=mailer.sender,
        )
        await mailer.send(message)
        await notifications.mark_emailed(deps.db, found.notice.id)
        return "sent"

    return {timeline.REMINDER: remind, timeline.EXPIRE: expire, timeline.FINISH: finish, EMAIL: email}
