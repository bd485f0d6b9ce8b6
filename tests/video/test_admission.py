"""Who may join a video session, and the order of the checks: the status decides before the time
(issue 10, item 28), so a session that will never open is never announced with an opening time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from channels.interface import EventError
from rtc.sessions.plan import admit
from storage.video import SessionBooking

START = datetime(2030, 5, 6, 18, 0, tzinfo=UTC)
CLIENT, PRACTITIONER = uuid.uuid4(), uuid.uuid4()
HOURS_BEFORE, DURING, HOURS_AFTER = START - timedelta(hours=5), START + timedelta(minutes=5), START + timedelta(hours=5)


def booking(status: str, mode: str = "video") -> SessionBooking:
    return SessionBooking(uuid.uuid4(), uuid.uuid4(), PRACTITIONER, CLIENT, status, mode, START,
                          START + timedelta(minutes=60), "Pat", "Cleo")


def refusal(status: str, now: datetime, user: uuid.UUID = CLIENT, mode: str = "video") -> EventError:
    with pytest.raises(EventError) as refused:
        admit([booking(status, mode)], user, now)
    return refused.value


@pytest.mark.parametrize("status", ["cancelled", "declined", "no_show", "requested"])
@pytest.mark.parametrize("now", [HOURS_BEFORE, DURING, HOURS_AFTER])
def test_a_booking_that_is_not_joinable_says_so_whatever_the_time(status: str, now: datetime) -> None:
    refused = refusal(status, now)
    assert (refused.code, refused.extra) == ("not_joinable", {"status": status})


def test_a_joinable_booking_outside_its_window_gets_the_window() -> None:
    early, late = refusal("confirmed", HOURS_BEFORE), refusal("completed", HOURS_AFTER)
    assert early.code == "too_early" and late.code == "too_late"
    assert early.extra == late.extra == {"opens_at": "2030-05-06T17:50:00Z", "closes_at": "2030-05-06T19:15:00Z"}
    assert admit([booking("confirmed")], CLIENT, DURING).session_id


def test_who_and_which_mode_come_before_the_status() -> None:
    assert refusal("cancelled", HOURS_BEFORE, user=uuid.uuid4()).code == "not_found"
    assert refusal("cancelled", HOURS_BEFORE, mode="in_person").code == "not_video"
