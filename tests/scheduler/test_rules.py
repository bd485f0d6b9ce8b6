"""The booking state machine over the API, idempotent creation, cancellation records, reschedule, history and feed.

Two in-process apps share the database: `now` runs on the real clock and `later`
with its scheduling clock shifted to ten minutes after the sessions start, so
the same bookings can be acted on before and after their start time. `later`
runs no jobs, which would otherwise fall due early there.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from klear_client import ApiError, KlearClient

from rtc.sessions.plan import plan_of
from scheduler import timeline
from scheduler.states import RULES, Action, Role, Status, TransitionRefused, decide
from storage.session_window import CLOSES_AFTER, OPENS_BEFORE
from storage.video import SessionBooking

from ..conftest import signed_up
from .conftest import ALL_DAY, Practice, iso, make_practitioner, parse

pytestmark = pytest.mark.quick

ACTIONS = {"confirm": Action.CONFIRM, "decline": Action.DECLINE, "cancel": Action.CANCEL, "start": Action.START,
           "complete": Action.COMPLETE, "no-show": Action.NO_SHOW, "reschedule": Action.RESCHEDULE}


@dataclass
class Sides:
    """A practitioner and a client, each signed in on both processes."""

    practice: Practice
    practitioner_later: KlearClient
    client: KlearClient
    client_later: KlearClient


async def _act(c: KlearClient, booking_id: str, action: str, **extra: str) -> dict:
    if action == "reschedule":
        return await c.reschedule(booking_id, extra["start_at"])
    return await c.booking_action(booking_id, action, extra.get("reason"))


async def _refused(c: KlearClient, booking_id: str, action: str, **extra: str) -> tuple[int, str]:
    with pytest.raises(ApiError) as err:
        await _act(c, booking_id, action, **extra)
    return err.value.status, err.value.code


@pytest.fixture
async def session_start() -> datetime:
    """A start 40-45 minutes from now on a 5-minute grid."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=45 - now.minute % 5)


@pytest.fixture
async def servers(start_app, session_start):
    now = await start_app()
    shift = (session_start + timedelta(minutes=10) - datetime.now(UTC)).total_seconds()
    later = await start_app(KLEAR_CLOCK_SHIFT=str(shift), KLEAR_JOB_CONCURRENCY="0")  # its jobs would run early
    return now, later


async def _sides(clients, servers, *, approval: bool = False, late_cancel_min: int = 1440) -> Sides:
    now, later = servers
    practice = await make_practitioner(
        clients(now.url), weekly=ALL_DAY, rules={"slot_interval_min": 5}, needs_approval=approval,
        late_cancel_min=late_cancel_min,
    )
    client = await signed_up(clients(now.url))
    p_later, c_later = clients(later.url), clients(later.url)
    p_later.session, c_later.session = practice.client.session, client.session
    return Sides(practice, p_later, client, c_later)


async def _booking_in(status: Status, clients, servers, start: datetime) -> tuple[Sides, dict]:
    s = await _sides(clients, servers, approval=status in (Status.REQUESTED, Status.DECLINED))
    booked = await s.client.book(s.practice.offering_id, iso(start))
    pid = booked["id"]
    steps = {
        Status.DECLINED: [(s.practice.client, "decline")],
        Status.CANCELLED: [(s.client, "cancel")],
        Status.IN_SESSION: [(s.practitioner_later, "start")],
        Status.COMPLETED: [(s.practitioner_later, "start"), (s.client_later, "complete")],
        Status.NO_SHOW: [(s.practitioner_later, "no-show")],
    }.get(status, [])
    for who, action in steps:
        booked = await _act(who, pid, action)
    assert booked["status"] == status.value
    return s, booked


async def test_every_illegal_transition_is_refused_with_409(clients, servers, session_start):
    made = {status: await _booking_in(status, clients, servers, session_start) for status in Status}
    for status, (name, action) in itertools.product(Status, ACTIONS.items()):
        if (status, action) in RULES:
            continue
        s, booked = made[status]
        new_start = iso(session_start + timedelta(days=3))
        got = await _refused(s.practice.client, booked["id"], name, start_at=new_start)
        assert got == (409, "illegal_transition"), (status, name)
        after = await s.client.booking(booked["id"])
        assert after["status"] == status.value and after["seq"] == booked["seq"]


async def test_who_may_act_and_when(clients, servers, session_start):
    requested = await _sides(clients, servers, approval=True)
    r = await requested.client.book(requested.practice.offering_id, iso(session_start))
    assert r["status"] == "requested" and r["expires_at"] is not None
    assert await _refused(requested.client, r["id"], "confirm") == (403, "forbidden")
    assert await _refused(requested.client, r["id"], "decline") == (403, "forbidden")
    assert (await requested.practice.client.booking_action(r["id"], "confirm"))["status"] == "confirmed"

    s = await _sides(clients, servers)
    b = await s.client.book(s.practice.offering_id, iso(session_start))
    assert await _refused(s.client, b["id"], "start") == (409, "too_early")  # 40 minutes ahead
    assert await _refused(s.practice.client, b["id"], "no-show") == (409, "too_early")
    assert await _refused(s.client_later, b["id"], "no-show") == (403, "forbidden")
    assert await _refused(s.client_later, b["id"], "cancel") == (409, "too_late")
    assert (await s.client_later.booking_action(b["id"], "start"))["status"] == "in_session"
    assert (await s.client_later.booking_action(b["id"], "complete"))["status"] == "completed"

    stranger = await signed_up(clients(servers[0].url))
    with pytest.raises(ApiError) as err:
        await stranger.booking(b["id"])
    assert err.value.status == 404
    assert await _refused(stranger, b["id"], "cancel") == (404, "not_found")


async def test_a_retry_with_the_same_key_returns_the_same_booking(clients, servers, session_start):
    s = await _sides(clients, servers)
    start = iso(session_start + timedelta(hours=2))
    first = await s.client.raw("POST", "/api/v1/bookings", json_body={"offering_id": s.practice.offering_id,
                               "start_at": start}, headers={"Idempotency-Key": "retry-me"})
    again = await s.client.raw("POST", "/api/v1/bookings", json_body={"offering_id": s.practice.offering_id,
                               "start_at": start}, headers={"Idempotency-Key": "retry-me"})
    assert (first.status, again.status) == (201, 200)
    assert first.body["id"] == again.body["id"]
    same_instant = (session_start + timedelta(hours=2)).astimezone(timezone(timedelta(hours=1))).isoformat()
    other_offset = await s.client.raw("POST", "/api/v1/bookings", json_body={"offering_id": s.practice.offering_id,
                                      "start_at": same_instant}, headers={"Idempotency-Key": "retry-me"})
    assert (other_offset.status, other_offset.body["id"]) == (200, first.body["id"])
    other_body = await s.client.raw("POST", "/api/v1/bookings", json_body={"offering_id": s.practice.offering_id,
                                    "start_at": iso(session_start + timedelta(hours=5))},
                                    headers={"Idempotency-Key": "retry-me"})
    assert (other_body.status, other_body.body["error"]["code"]) == (409, "idempotency_key_reused")
    listed = await s.client.bookings()
    assert [b["id"] for b in listed["items"]] == [first.body["id"]]


async def test_a_cancellation_records_who_why_and_whether_it_was_late(clients, servers, session_start):
    s = await _sides(clients, servers, late_cancel_min=24 * 60)
    soon = await s.client.book(s.practice.offering_id, iso(session_start))
    later = await s.client.book(s.practice.offering_id, iso(session_start + timedelta(days=3)))
    a = await s.client.booking_action(soon["id"], "cancel", "migraine since this morning")
    b = await s.practice.client.booking_action(later["id"], "cancel", None)
    assert a["cancellation"]["by_role"] == "client" and a["cancellation"]["late"] is True
    assert a["cancellation"]["by_user_id"] == s.client.session.user_id
    assert b["cancellation"]["by_role"] == "practitioner" and b["cancellation"]["late"] is False
    seen_by_practitioner = await s.practice.client.booking(soon["id"])
    assert seen_by_practitioner["cancellation"]["reason"] == "migraine since this morning"


async def test_reschedule_claims_the_new_time_then_releases_the_old_and_links_them(
    clients, servers, session_start, database_url
):
    s = await _sides(clients, servers)
    original = await s.client.book(s.practice.offering_id, iso(session_start + timedelta(hours=3)), note="knee")
    blocker = await signed_up(clients(servers[0].url))
    taken = await blocker.book(s.practice.offering_id, iso(session_start + timedelta(hours=6)))

    assert await _refused(s.client, original["id"], "reschedule", start_at=taken["start_at"]) == (409, "slot_unavailable")
    assert (await s.client.booking(original["id"]))["status"] == "confirmed"  # nothing changed

    # Half an hour later overlaps the old time: allowed, since the old one is released in the same step.
    target = iso(session_start + timedelta(hours=3, minutes=30))
    moved = await s.client.reschedule(original["id"], target, idempotency_key="move-1")
    retried = await s.client.reschedule(original["id"], target, idempotency_key="move-1")
    assert retried["id"] == moved["id"]
    old = await s.client.booking(original["id"])
    assert moved["rescheduled_from"] == original["id"] and old["rescheduled_to"] == moved["id"]
    assert old["status"] == "cancelled" and old["cancellation"]["by_role"] == "client"
    assert moved["status"] == "confirmed" and moved["start_at"] == target and moved["note"] == "knee"
    assert moved["conversation_id"] == original["conversation_id"]
    day = target[:10]
    free = {x["start"] for x in (await s.client.slots(s.practice.id, s.practice.offering_id, day, day, "UTC"))["slots"]}
    assert original["start_at"] not in free and target not in free


async def test_every_change_is_in_the_history_and_the_feeds_without_gaps(clients, servers, session_start):
    s = await _sides(clients, servers, approval=True)
    a = await s.client.book(s.practice.offering_id, iso(session_start))
    await s.practice.client.booking_action(a["id"], "confirm")
    await s.practitioner_later.booking_action(a["id"], "start")
    await s.practitioner_later.booking_action(a["id"], "complete")
    b = await s.client.book(s.practice.offering_id, iso(session_start + timedelta(days=1)))
    await s.client.booking_action(b["id"], "cancel")

    history = (await s.client.booking_events(a["id"]))["events"]
    assert [(e["seq"], e["kind"], e["actor_role"], e["to_status"]) for e in history] == [
        (1, "created", "client", "requested"), (2, "confirmed", "practitioner", "confirmed"),
        (3, "started", "practitioner", "in_session"), (4, "completed", "practitioner", "completed"),
    ]
    assert [e["body"]["booking_seq"] for e in history] == [1, 2, 3, 4]
    assert history[1]["body"]["type"] == "booking.confirmed" and history[1]["body"]["booking"]["status"] == "confirmed"
    assert (await s.client.booking_events(a["id"], after=2))["events"][0]["seq"] == 3

    for side in (s.client, s.practice.client):
        feed = await side.booking_feed()
        assert [i["seq"] for i in feed["items"]] == [1, 2, 3, 4, 5, 6] and feed["last_seq"] == 6
        assert [(i["booking_id"], i["booking_seq"]) for i in feed["items"]] == [
            (a["id"], 1), (a["id"], 2), (a["id"], 3), (a["id"], 4), (b["id"], 1), (b["id"], 2)]
        assert feed["items"][3]["event"] == history[3]["body"]
        assert [i["seq"] for i in (await side.booking_feed(after=4))["items"]] == [5, 6]
    assert parse(history[0]["body"]["booking"]["start_at"]) == session_start


def test_one_session_window_bounds_starting_joining_and_finishing():
    start = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
    end = start + timedelta(minutes=60)
    opens, closes = start - OPENS_BEFORE, end + CLOSES_AFTER
    second = timedelta(seconds=1)

    def start_at(now: datetime) -> str:
        try:
            decide(Status.CONFIRMED, Action.START, Role.CLIENT, now=now, start=start, end=end)
        except TransitionRefused as refused:
            return refused.code
        return "ok"

    assert [start_at(t) for t in (opens - second, opens, end + 10 * timedelta(minutes=1), closes - second, closes)] == [
        "too_early", "ok", "ok", "ok", "too_late"]
    session = SessionBooking(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "confirmed", "video", start, end,
                             "P", "C")
    plan = plan_of([session])
    assert plan is not None and (plan.opens_at, plan.closes_at) == (opens, closes)
    job = timeline.confirmed(session.id, start, end, start - timedelta(days=2))
    assert [(s.do, s.at) for s in timeline.steps_of(job.payload)][-1] == (timeline.FINISH, closes)
