"""Emails about offerings whose names were stored before names refused control characters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from scheduler.emails import render
from storage.notifications import Notice

pytestmark = pytest.mark.quick


def test_a_name_stored_with_a_line_break_still_gives_a_sendable_one_line_subject():
    notice = Notice(
        id=uuid.uuid4(), user_id=uuid.uuid4(), kind="booking_created", category="update", booking_id=uuid.uuid4(),
        data={"offering_name": "Yoga\r\nBcc: victim@example.org", "counterpart": {"display_name": "Ada\nLovelace"},
              "start_at": "2027-03-14T09:00:00Z", "mode": "video"},
        created_at=datetime.now(UTC),
    )
    message = render(notice, recipient="p@example.org", display_name="Pat\r\nX", time_zone="Europe/London",
                     sender="Klear Karma <no-reply@example.org>")
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "New booking: Yoga  Bcc: victim@example.org with Ada Lovelace"
    assert parsed["Bcc"] is None and parsed["To"].addresses[0].addr_spec == "p@example.org"
