"""Email templates: what a notification says by email, in the recipient's own time zone.

Rendering is pure: a notice, the recipient's name and time zone in, a message
out. The Message-ID is derived from the notification, so if a retried job
delivers the same email twice, mail clients show it once.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from zoneinfo import ZoneInfo

from storage.notifications import Notice

# kind -> (subject, first paragraph); {offering}, {who}, {when}, {previous} are filled in.
_TEMPLATES: dict[str, tuple[str, str]] = {
    "booking_requested": ("Booking request: {offering} with {who}",
                          "{who} asked to book {offering} on {when}. Confirm or decline the request in the app."),
    "booking_created": ("New booking: {offering} with {who}", "{who} booked {offering} on {when}."),
    "booking_confirmed": ("Confirmed: {offering} with {who}", "Your session {offering} with {who} on {when} is confirmed."),
    "booking_declined": ("Declined: {offering} with {who}", "{who} could not take your request for {offering} on {when}."),
    "booking_expired": ("Request expired: {offering} with {who}",
                        "Your request for {offering} on {when} was not answered in time and has lapsed."),
    "booking_cancelled": ("Cancelled: {offering} with {who}", "Your session {offering} with {who} on {when} was cancelled."),
    "booking_rescheduled": ("Moved: {offering} with {who}",
                            "Your session {offering} with {who} moved from {previous} to {when}."),
    "reminder_24h": ("Tomorrow: {offering} with {who}", "A reminder: {offering} with {who} is on {when}."),
    "reminder_15m": ("In 15 minutes: {offering} with {who}", "{offering} with {who} starts soon: {when}."),
}


def local_time(instant: datetime, tz: ZoneInfo) -> str:
    """E.g. 'Tuesday 14 December 2027, 09:00 (America/New_York, EST)'."""
    local = instant.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} ({tz.key}, {local.tzname()})"


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _one_line(text: str) -> str:
    """Names as a header takes them: control characters (a CR/LF stored before names refused them) become spaces."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def render(notice: Notice, *, recipient: str, display_name: str, time_zone: str, sender: str) -> EmailMessage:
    """The email for `notice`, addressed to `recipient` and showing times in `time_zone`."""
    tz = ZoneInfo(time_zone)
    data = notice.data
    fields = {
        "offering": _one_line(data["offering_name"]),
        "who": _one_line(data["counterpart"]["display_name"]),
        "when": local_time(_instant(data["start_at"]), tz),
        "previous": local_time(_instant(data["previous_start_at"]), tz) if data.get("previous_start_at") else "",
    }
    subject, opening = _TEMPLATES[notice.kind]
    where = f"Where: {data['address']}" if data["mode"] == "in_person" else "Where: online, by video in the app"
    message = EmailMessage()
    message["Subject"] = subject.format(**fields)
    message["From"] = sender
    message["To"] = formataddr((_one_line(display_name), recipient))
    message["Message-ID"] = f"<{notice.id}@klear-karma>"
    message.set_content(
        f"Hello {display_name},\n\n{opening.format(**fields)}\n\n{where}\n"
        f"Times are shown in your time zone, {tz.key}; change it in your profile.\n\n— Klear Karma\n"
    )
    return message
