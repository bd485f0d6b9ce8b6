"""Durable jobs: reminders sent once, skipped when cancelled, run after downtime, taken over from a killed
process, retried and finally dead; request expiry and session finish.

The quick tests run the app in-process and move its scheduling clock (`app.clock`) to when a reminder,
an expiry or a finish falls due. The tests about several processes start servers with KLEAR_CLOCK_SHIFT
chosen to make a reminder fall due a few seconds from now (reminder offsets are fixed: 24 h and 15 min).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from ..conftest import PASSWORD, new_email, signed_up
from ..support.eventually import eventually, holds
from ..support.servers import run_cli
from ..support.mailbox import Mailbox
from .conftest import ALL_DAY, FAST_JOBS, iso, make_practitioner, reminder_clock

MINUTES_15 = timedelta(minutes=15)
REMINDER = "In 15 minutes"


async def _jobs(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _notified(c, kind: str) -> list[dict]:
    return [n for n in (await c.notifications())["items"] if n["kind"] == kind]


async def _emails_settled(database_url: str) -> None:
    """No email is queued or being sent: what the mailbox holds now is all it will get."""
    pending = await _jobs(database_url, "SELECT id FROM jobs WHERE kind = 'email.send' AND state IN ('queued', 'running')")
    assert pending == [], pending


def _reminders(mailbox: Mailbox, count: int) -> None:
    assert len(mailbox.subjects(REMINDER)) == count, mailbox.subjects()


def _next_start(after: timedelta, grid: timedelta = timedelta(minutes=30)) -> datetime:
    """The first slot start on a `grid` from midnight UTC at least `after` from now."""
    earliest = datetime.now(UTC) + after
    midnight = earliest.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + grid * -((midnight - earliest) // grid)


async def _book(clients, url: str, start: datetime, *, client_tz: str = "Europe/London"):
    p = await make_practitioner(clients(url), tz="UTC", weekly=ALL_DAY, account_tz="America/New_York")
    client = await signed_up(clients(url), tz=client_tz)
    booked = await client.book(p.offering_id, iso(start))
    return p, client, booked


@pytest.mark.quick
async def test_the_15_minute_reminder_reaches_both_by_email_in_their_own_time(start_app, clients, mailbox):
    app = await start_app(**mailbox.env)
    start = _next_start(timedelta(minutes=20))
    p, client, booked = await _book(clients, app.url, start, client_tz="Asia/Kolkata")
    client_email, practitioner_email = client.session.user["email"], p.client.session.user["email"]

    await app.clock.set(start - MINUTES_15)
    await eventually(lambda: _reminders(mailbox, 2))

    to_client = [m for m in mailbox.to(client_email) if REMINDER in str(m["Subject"])]
    to_practitioner = [m for m in mailbox.to(practitioner_email) if REMINDER in str(m["Subject"])]
    assert len(to_client) == len(to_practitioner) == 1
    kolkata, new_york = start.astimezone(ZoneInfo("Asia/Kolkata")), start.astimezone(ZoneInfo("America/New_York"))
    client_text, practitioner_text = to_client[0].get_content(), to_practitioner[0].get_content()
    assert f"{kolkata:%H:%M} (Asia/Kolkata, IST)" in client_text
    assert f"{new_york:%H:%M} (America/New_York, {new_york.tzname()})" in practitioner_text
    assert "Test Practitioner" in str(to_client[0]["Subject"]) and "Hatha yoga" in str(to_client[0]["Subject"])
    assert to_client[0]["Message-ID"] != to_practitioner[0]["Message-ID"]
    # The in-app copy exists for both; the 24-hour reminder was already past when booked, so it is not sent.
    assert len(await _notified(client, "reminder_15m")) == 1 and await _notified(client, "reminder_24h") == []
    assert len(await _notified(p.client, "reminder_15m")) == 1
    assert booked["status"] == "confirmed"


@pytest.mark.quick
async def test_a_cancelled_booking_gets_no_reminder(start_app, clients, mailbox, database_url):
    app = await start_app(**mailbox.env)
    start = _next_start(timedelta(minutes=20))
    p, client, booked = await _book(clients, app.url, start)
    await client.booking_action(booked["id"], "cancel", "feeling unwell")
    # Leases run on the scheduling clock: jumping it while the two emails are being sent would expire their
    # leases and have them sent again, which no real clock does. So the jump waits for them.
    await eventually(lambda: _emails_settled(database_url))

    await app.clock.set(start - MINUTES_15)
    rows = await eventually(lambda: _timeline_done(database_url))
    assert [r["outcome"] for r in rows] == ["skipped_cancelled"]  # and the timeline stops: no finish to come
    # The timeline that would have queued the reminder emails is done; the mails it did queue are all sent.
    await eventually(lambda: _emails_settled(database_url))
    assert mailbox.subjects(REMINDER) == []
    assert await _notified(client, "reminder_15m") == []
    assert sorted(str(m["Subject"]) for m in mailbox.to(p.client.session.user["email"])) == [
        "Cancelled: Hatha yoga with Test Client", "New booking: Hatha yoga with Test Client"]
    assert len(mailbox.messages) == 2


def _stale_logged(app) -> list[tuple[str, str, str]]:
    events = [json.loads(line) for line in app.log_text().splitlines() if '"reminder_stale"' in line]
    return [(e["reason"], e["channel"], e["booking_id"]) for e in events]


async def _timeline_outcome(database_url: str, outcome: str) -> None:
    rows = await _jobs(database_url, "SELECT outcome FROM jobs WHERE kind = 'booking.timeline'")
    assert [r["outcome"] for r in rows] == [outcome]


@pytest.mark.quick
@pytest.mark.parametrize("late", [timedelta(minutes=9), timedelta(minutes=11)], ids=["within_grace", "beyond_grace"])
async def test_a_reminder_later_than_the_grace_period_is_dropped_and_recorded(start_app, clients, mailbox, database_url, late):
    app = await start_app(**mailbox.env, KLEAR_REMINDER_GRACE="600")
    start = _next_start(timedelta(minutes=20))
    p, client, booked = await _book(clients, app.url, start)
    await eventually(lambda: _emails_settled(database_url))

    await app.clock.set(start - MINUTES_15 + late)  # the process was down when the reminder fell due
    if late < timedelta(minutes=10):
        await eventually(lambda: _reminders(mailbox, 2))
        assert len(await _notified(client, "reminder_15m")) == 1 and _stale_logged(app) == []
        return
    await eventually(lambda: _timeline_outcome(database_url, "skipped_stale"))  # and queued for its finish
    await eventually(lambda: _emails_settled(database_url))
    assert mailbox.subjects(REMINDER) == []
    assert await _notified(client, "reminder_15m") == [] and await _notified(p.client, "reminder_15m") == []
    assert _stale_logged(app) == [("reminder_15m", "in_app", booked["id"])]


@pytest.mark.quick
async def test_a_reminder_email_held_up_beyond_the_grace_period_is_dropped(start_app, clients, mailbox, database_url):
    app = await start_app(**mailbox.env, KLEAR_REMINDER_GRACE="600", KLEAR_JOB_RETRY_BASE="30")
    start = _next_start(timedelta(minutes=20))
    p, client, booked = await _book(clients, app.url, start)
    await eventually(lambda: _emails_settled(database_url))
    mailbox.hold_first = True  # the relay stalls on the first reminder email, then refuses it for now (451)

    await app.clock.set(start - MINUTES_15)
    await asyncio.wait_for(mailbox.stalled.wait(), 20)
    mailbox.release()

    async def retry_queued() -> int:
        rows = await _jobs(database_url, "SELECT id FROM jobs WHERE kind = 'email.send' AND state = 'queued' AND attempts = 1")
        assert len(rows) == 1, rows
        return int(rows[0]["id"])

    held = await eventually(retry_queued)
    await app.clock.advance(timedelta(minutes=20))  # its retry comes 20 minutes after the reminder was due

    async def dropped() -> None:
        rows = await _jobs(database_url, "SELECT state, outcome FROM jobs WHERE id = $1", held)
        assert [tuple(r) for r in rows] == [("done", "skipped_stale")]

    await eventually(dropped)
    assert len(mailbox.subjects(REMINDER)) == 1  # the other participant's went out in time
    assert len(await _notified(client, "reminder_15m")) == len(await _notified(p.client, "reminder_15m")) == 1
    assert _stale_logged(app) == [("reminder_15m", "email", booked["id"])]


async def _timeline_done(database_url: str) -> list[asyncpg.Record]:
    rows = await _jobs(database_url, "SELECT outcome FROM jobs WHERE kind = 'booking.timeline' AND state = 'done'")
    assert rows, "the booking's timeline has not run"
    return rows


@pytest.mark.quick
async def test_an_unanswered_request_lapses_and_the_client_is_told(app, clients):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY, needs_approval=True, rules={"request_ttl_min": 5})
    client = await signed_up(clients(app.url))
    booked = await client.book(p.offering_id, f"{(datetime.now(UTC) + timedelta(days=2)).date()}T10:00:00Z")
    assert booked["status"] == "requested"
    await app.clock.advance(timedelta(minutes=6))  # nobody answered for six minutes

    async def declined():
        assert (await client.booking(booked["id"]))["status"] == "declined"

    await eventually(declined)
    history = (await client.booking_events(booked["id"]))["events"]
    assert [(e["kind"], e["actor_role"]) for e in history] == [("created", "client"), ("expired", "system")]
    assert len(await _notified(client, "booking_expired")) == 1


@pytest.mark.quick
async def test_after_the_end_sessions_are_completed_or_marked_no_show(app, clients):
    video = await make_practitioner(clients(app.url), weekly=ALL_DAY)
    in_person = await make_practitioner(clients(app.url), weekly=ALL_DAY, mode="in_person", address="1 Quiet Lane")
    client = await signed_up(clients(app.url))
    start = _next_start(timedelta(minutes=45))
    held = await client.book(video.offering_id, iso(start))
    missed = await client.book(video.offering_id, iso(start + timedelta(hours=2)))
    met = await client.book(in_person.offering_id, iso(start + timedelta(hours=2)))
    await app.clock.set(start + timedelta(minutes=5))
    assert (await client.booking_action(held["id"], "start"))["status"] == "in_session"
    # Past every session's end and the grace period: the finish jobs run.
    await app.clock.advance(timedelta(hours=4))

    async def finished():
        states = [(await client.booking(b["id"]))["status"] for b in (held, missed, met)]
        assert "confirmed" not in states and "in_session" not in states, states
        return states

    assert await eventually(finished) == ["completed", "no_show", "completed"]


async def test_a_reminder_is_sent_once_with_two_processes_running(start_server, clients, mailbox, redis_env, database_url):
    clock = reminder_clock(MINUTES_15, 8)
    env = {"KLEAR_CLOCK_SHIFT": clock[0], **FAST_JOBS, **mailbox.env, **redis_env}
    servers = await asyncio.gather(start_server(**env), start_server(**env))
    p, client, _ = await _book(clients, servers[0].url, clock[1])

    await eventually(lambda: holds(len(mailbox.subjects(REMINDER)) >= 2, mailbox.subjects()), timeout=30)

    async def reminder_step_recorded() -> list[tuple]:
        jobs = await _jobs(database_url, """SELECT state, outcome, ARRAY(SELECT s ->> 'do' FROM jsonb_array_elements(
                                                payload -> 'steps') AS s) AS steps FROM jobs WHERE kind = 'booking.timeline'""")
        assert [tuple(j) for j in jobs] == [("queued", "notified", ["session_edge", "session_edge", "finish"])]
        return jobs

    # The booking's one timeline job ran its reminder step once and waits for the session's start, end and
    # finish; no email is pending
    # and both servers have written their logs up to now: a duplicate would be visible by this point.
    await eventually(reminder_step_recorded)
    await eventually(lambda: _emails_settled(database_url))
    for s in servers:
        await s.logs_flushed()
    reminders = mailbox.subjects(REMINDER)
    assert len(reminders) == 2
    assert len(await _notified(client, "reminder_15m")) == 1 and len(await _notified(p.client, "reminder_15m")) == 1
    steps = [e for s in servers for e in s.logs
             if e.get("event") == "job_step_done" and e.get("job_kind") == "booking.timeline"]
    assert [e["reason"] for e in steps] == ["notified"]


async def test_jobs_that_fell_due_while_no_server_ran_run_at_start_up(start_server, clients, mailbox, database_url):
    clock = reminder_clock(MINUTES_15, 60)
    first = await start_server(KLEAR_CLOCK_SHIFT=clock[0], **FAST_JOBS, **mailbox.env)
    await _book(clients, first.url, clock[1])
    assert await first.stop() == 0
    assert [r["state"] for r in await _jobs(database_url, "SELECT state FROM jobs WHERE kind = 'booking.timeline'")] == ["queued"]

    # The next server starts a minute after the reminder fell due (its clock is that much further on).
    later = str(float(clock[0]) + 120)
    second = await start_server(KLEAR_CLOCK_SHIFT=later, **FAST_JOBS, **mailbox.env)
    started = datetime.now(UTC)
    await eventually(lambda: _reminders(mailbox, 2), timeout=20)
    assert datetime.now(UTC) - started < timedelta(seconds=10)
    assert second.proc is not None


async def test_a_job_held_by_a_killed_process_is_completed_by_another(start_server, clients, mailbox, redis_env, database_url):
    mailbox.hold_first = True
    env = {**FAST_JOBS, **mailbox.env, **redis_env}
    servers = await asyncio.gather(start_server(**env), start_server(**env))
    p = await make_practitioner(clients(servers[0].url), weekly=ALL_DAY)
    client = await signed_up(clients(servers[0].url))
    await client.book(p.offering_id, f"{(datetime.now(UTC) + timedelta(days=3)).date()}T10:00:00Z")

    await asyncio.wait_for(mailbox.stalled.wait(), 20)  # the email to the practitioner is half-sent
    holder = await _jobs(database_url, "SELECT id, locked_by FROM jobs WHERE kind = 'email.send' AND state = 'running'")
    assert len(holder) == 1
    pid = int(holder[0]["locked_by"].split(":")[1])
    victim = next(s for s in servers if s.proc is not None and s.proc.pid == pid)
    survivor = next(s for s in servers if s is not victim)
    os.kill(pid, signal.SIGKILL)
    await victim.kill()
    mailbox.release()

    await eventually(lambda: holds(len(mailbox.messages) == 1, mailbox.subjects()), timeout=20)

    async def done() -> asyncpg.Record:
        rows = await _jobs(database_url, "SELECT state, attempts, outcome, locked_by FROM jobs WHERE id = $1 AND state = 'done'",
                           holder[0]["id"])
        assert rows, "the held job is not done yet"
        return rows[0]

    job = await eventually(done, timeout=20)
    assert (job["state"], job["attempts"], job["outcome"], job["locked_by"]) == ("done", 2, "sent", None)
    assert [str(m["Subject"]) for m in mailbox.messages] == ["New booking: Hatha yoga with Test Client"]
    assert survivor.proc is not None and survivor.proc.returncode is None


async def test_failing_jobs_retry_with_backoff_then_die_and_admins_see_them(start_server, clients, server_env, database_url):
    closed = {"KLEAR_SMTP_HOST": "127.0.0.1", "KLEAR_SMTP_PORT": "1", "KLEAR_SMTP_SECURITY": "none"}
    server = await start_server(**{**FAST_JOBS, "KLEAR_JOB_RETRY_BASE": "0.05", **closed})
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY)
    client = await signed_up(clients(server.url))
    await client.book(p.offering_id, f"{(datetime.now(UTC) + timedelta(days=3)).date()}T10:00:00Z")

    async def dead_jobs() -> list[asyncpg.Record]:
        rows = await _jobs(database_url, "SELECT * FROM jobs WHERE state = 'dead'")
        assert rows, "no job has died yet"
        return rows

    dead = await eventually(dead_jobs, timeout=40)
    await server.logs_flushed()
    assert dead[0]["kind"] == "email.send" and dead[0]["attempts"] == dead[0]["max_attempts"] == 8
    assert dead[0]["last_error"] in ("SMTPConnectError", "SMTPConnectTimeoutError", "ConnectionRefusedError")
    failures = [e for e in server.logs if e.get("event") in ("job_failed", "job_dead")]
    assert [e["attempt"] for e in failures] == list(range(1, 9))
    assert [e["retry_in"] for e in failures][:4] == sorted(e["retry_in"] for e in failures[:4])  # backing off

    email = new_email("admin")
    code, _, err = await run_cli("create-admin", "--email", email, "--display-name", "Ops", "--password-stdin",
                                   env=server_env, stdin=(PASSWORD + "\n").encode())
    assert code == 0, err
    admin = clients(server.url)
    await admin.login(email, PASSWORD)
    listed = await admin.call("GET", "/admin/jobs/dead")
    assert [j["id"] for j in listed["items"]] == [dead[0]["id"]] and listed["items"][0]["last_error"]
    with pytest.raises(Exception) as refused:
        await client.call("GET", "/admin/jobs/dead")
    assert getattr(refused.value, "status", None) == 403
    again = await admin.call("POST", f"/admin/jobs/{dead[0]['id']}/retry")
    assert again["state"] == "queued" and again["attempts"] == 0
