"""Job handlers. Each step is idempotent: it re-reads current state, acts only if it still applies, and returns
an outcome word that is stored on the job (notified, skipped_cancelled, ...).

Delivery is at-least-once, so a step may run again after a crash. Reminders
write their notifications under dedupe keys and emails carry a stable
Message-ID; a state change refused by the state machine (someone else got
there first) is a skip, not a failure. A booking's timeline goes on to its
next step only while the booking is still the one it was made for (confirmed
or in session, at the same start); otherwise it stops.

A reminder that comes later than the grace period (after downtime) is
dropped, in-app and by email alike: its job records `skipped_stale` and the
log gets a `reminder_stale` event, since "starts in 15 minutes" about a session
that is over misleads more than silence does.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from storage import bookings, notifications
from storage.bookings import BookingDetail
from storage.jobs import Job
from storage.notifications import Notice

from . import account_mail, emails, live, notices, timeline
from .bookings import Deps, act
from .mailer import Mailer
from .notices import Gist
from .states import Action, Status, TransitionRefused
from .worker import Handler, Next

log = logging.getLogger(__name__)

EMAIL = "email.send"
STALE = "skipped_stale"
# A confirmed timeline has more to do for a booking in these statuses.
_GOES_ON = frozenset({Status.CONFIRMED, Status.IN_SESSION})


def _dropped(booking_id: uuid.UUID | None, name: str, due: datetime, now: datetime, channel: str) -> str:
    late = round((now - due).total_seconds())
    log.info(f"reminder dropped: {late} s late", extra={
        "event": "reminder_stale", "booking_id": str(booking_id), "reason": name, "channel": channel,
    })
    return STALE


def _reminder_due(notice: Notice) -> datetime | None:
    """When the reminder a notification is would have been due; None for a notification that is no reminder."""
    if notice.kind not in timeline.REMINDERS:
        return None
    return timeline.reminder_due(notice.kind, datetime.fromisoformat(notice.data["start_at"]))


def handlers(deps: Deps, mailer: Mailer | None, *, reminder_grace: timedelta) -> dict[str, Handler]:
    """The handler of every job kind, bound to the service's dependencies."""

    async def remind(detail: BookingDetail, name: str, due: datetime) -> str:
        b = detail.booking
        if b.status != Status.CONFIRMED:
            return f"skipped_{b.status}"
        now = deps.clock.now()
        if timeline.is_stale(due, now, reminder_grace):
            return _dropped(b.id, name, due, now, "in_app")
        sent = await notifications.prepare(deps.db, notices.reminders(name.removeprefix("reminder_"), Gist.of(detail)))
        async with deps.db.transaction("jobs.remind") as conn:
            written = await notifications.write(conn, sent, now, email=deps.email)
        await live.publish_notices(deps.bus, written)
        return "notified" if written else "already_notified"

    async def transition(booking_id: uuid.UUID, action: Action) -> str:
        try:
            await act(deps, booking_id, action, actor=None)
        except TransitionRefused as refused:
            return f"skipped_{refused.code}"
        return action.value

    async def session_edge(detail: BookingDetail) -> str:
        b = detail.booking
        if b.status not in _GOES_ON:
            return f"skipped_{b.status}"
        await live.publish_available(deps.bus, b.practitioner_id)
        return "announced"

    async def finish(detail: BookingDetail) -> str:
        b = detail.booking
        if b.status == Status.IN_SESSION:
            return await transition(b.id, Action.COMPLETE)
        if b.status == Status.CONFIRMED:
            # Nobody started a video session: no-show. In person there is nothing to start: assume it took place.
            return await transition(b.id, Action.NO_SHOW if b.mode == "video" else Action.COMPLETE)
        return f"skipped_{b.status}"

    async def step(job: Job) -> str | Next:
        """Run the timeline's first step; queue the job again for the next one while the booking goes on."""
        booking_id = uuid.UUID(job.payload["booking_id"])
        first, *rest = timeline.steps_of(job.payload)
        if first.do == timeline.EXPIRE:
            return await transition(booking_id, Action.EXPIRE)
        detail = await bookings.get_with_participants(deps.db, booking_id)
        if detail is None:
            return "skipped_gone"
        if detail.booking.start_at != datetime.fromisoformat(job.payload["start_at"]):
            return "skipped_moved"
        if first.do == timeline.FINISH:
            outcome = await finish(detail)
        elif first.do == timeline.SESSION_EDGE:
            outcome = await session_edge(detail)
        else:
            outcome = await remind(detail, first.do, first.at)
        if not rest or detail.booking.status not in _GOES_ON:
            return outcome
        return Next(outcome, rest[0].at, timeline.payload(booking_id, detail.booking.start_at, rest))

    async def email(job: Job) -> str:
        found = await notifications.for_email(deps.db, uuid.UUID(job.payload["notification_id"]))
        if found is None:
            return "skipped_gone"
        if found.emailed:
            return "already_sent"
        if mailer is None:
            return "skipped_no_smtp"
        now = deps.clock.now()
        due = _reminder_due(found.notice)
        if due is not None and timeline.is_stale(due, now, reminder_grace):
            return _dropped(found.notice.booking_id, found.notice.kind, due, now, "email")
        message = emails.render(
            found.notice, recipient=found.email, display_name=found.display_name, time_zone=found.time_zone,
            sender=mailer.sender,
        )
        await mailer.send(message)
        await notifications.mark_emailed(deps.db, found.notice.id)
        return "sent"

    return {timeline.TIMELINE: step, EMAIL: email, account_mail.ACCOUNT_EXISTS: account_mail.handler(deps.db, mailer),
            account_mail.PASSWORD_RESET: account_mail.reset_handler(deps.db, mailer),
            account_mail.VERIFY_EMAIL: account_mail.verify_handler(deps.db, mailer)}
