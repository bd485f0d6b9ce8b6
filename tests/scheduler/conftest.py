"""Fixtures of the scheduler tests: practitioners set up over the API, a real SMTP server, fast job settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


from klear_client import KlearClient

from ..conftest import signed_up

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NINE_TO_FIVE = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS]
ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in WEEKDAYS]
# Job settings that make the runner react within a fraction of a second.
FAST_JOBS = {"KLEAR_JOB_POLL_INTERVAL": "0.1", "KLEAR_JOB_LEASE": "2", "KLEAR_JOB_RETRY_BASE": "0.2"}
# No notice, a long horizon: any future slot is bookable.
OPEN_RULES = {"min_notice_min": 0, "horizon_days": 730, "slot_interval_min": 30}


@dataclass
class Practice:
    """A practitioner signed in on `client`, with one offering."""

    client: KlearClient
    id: str
    offering_id: str
    time_zone: str


async def make_practitioner(
    c: KlearClient, *, tz: str = "Europe/London", rules: dict[str, Any] | None = None,
    weekly: list[dict[str, Any]] | None = None, overrides: list[dict[str, Any]] | None = None,
    name: str = "Test Practitioner", account_tz: str | None = None, **offering: Any,
) -> Practice:
    """Register a practitioner whose hours are in `tz` (their account's zone is `account_tz`, default `tz`)."""
    await signed_up(c, "practitioner", account_tz or tz, name=name)
    pid = c.session.user_id
    await c.save_practitioner_profile(
        pid, bio="Certified teacher.", modalities=["yoga", "breathwork"], languages=["en"], time_zone=tz,
        booking_rules={**OPEN_RULES, **(rules or {})},
    )
    offer = await c.create_offering(
        pid, **{"name": "Hatha yoga", "duration_min": 60, "price_minor": 5000, "currency": "EUR", "mode": "video",
                **offering},
    )
    await c.set_hours(pid, weekly if weekly is not None else NINE_TO_FIVE, overrides)
    return Practice(c, pid, offer["id"], tz)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def next_weekday_date(weekday: int, *, weeks_ahead: int = 1) -> str:
    """The date (YYYY-MM-DD) of ISO `weekday` at least a week from now, so notice rules never interfere."""
    day = datetime.now(UTC).date() + timedelta(days=7 * weeks_ahead)
    while day.isoweekday() != weekday:
        day += timedelta(days=1)
    return day.isoformat()


async def first_slot(p: Practice, day: str, tz: str = "UTC") -> str:
    got = await p.client.slots(p.id, p.offering_id, day, day, tz)
    assert got["slots"], got
    return str(got["slots"][0]["start"])


def reminder_clock(lead: timedelta, in_seconds: float, grid: timedelta = timedelta(minutes=30)) -> tuple[str, datetime]:
    """A KLEAR_CLOCK_SHIFT and a slot start (on a `grid` from midnight UTC) whose reminder `lead` before the
    start falls due `in_seconds` of real time from now."""
    fire = datetime.now(UTC) + timedelta(seconds=in_seconds)
    unshifted = fire + lead
    midnight = unshifted.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight + grid * -((midnight - unshifted) // grid)
    return str((start - unshifted).total_seconds()), start
