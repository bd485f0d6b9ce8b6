"""In-app notifications over REST, and preferences deciding which of them also come by email."""

from __future__ import annotations

import asyncio

import asyncpg

from ..conftest import signed_up
from .conftest import ALL_DAY, FAST_JOBS, make_practitioner, next_weekday_date


async def test_notifications_are_listed_newest_first_and_marked_read(start_server, clients, database_url):
    server = await start_server()
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY)
    client = await signed_up(clients(server.url))
    day = next_weekday_date(2)
    first = await client.book(p.offering_id, f"{day}T09:00:00Z")
    second = await client.book(p.offering_id, f"{day}T12:00:00Z")
    await client.booking_action(first["id"], "cancel")

    inbox = await p.client.notifications()
    assert [(n["kind"], n["booking_id"]) for n in inbox["items"]] == [
        ("booking_cancelled", first["id"]), ("booking_created", second["id"]), ("booking_created", first["id"])]
    assert inbox["unread"] == 3
    data = inbox["items"][1]["data"]
    assert data["counterpart"]["display_name"] == "Test Client" and data["start_at"] == f"{day}T12:00:00Z"
    assert data["offering_name"] == "Hatha yoga" and data["mode"] == "video"

    marked = await p.client.mark_notifications_read([inbox["items"][0]["id"]])
    assert marked == {"updated": 1, "unread": 2}
    assert len((await p.client.notifications(unread=True))["items"]) == 2
    assert (await client.mark_notifications_read([inbox["items"][1]["id"]]))["updated"] == 0  # not theirs
    assert (await p.client.mark_notifications_read())["unread"] == 0
    assert (await client.notifications())["items"] == []  # the client was told nothing: they acted
    conn = await asyncpg.connect(database_url)
    try:  # no SMTP relay is configured, so no email is even queued
        assert await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'email.send'") == 0
    finally:
        await conn.close()


async def test_preferences_choose_what_is_also_emailed(start_server, clients, mailbox):
    server = await start_server(**FAST_JOBS, **mailbox.env)
    quiet = await make_practitioner(clients(server.url), weekly=ALL_DAY, name="Quiet One")
    chatty = await make_practitioner(clients(server.url), weekly=ALL_DAY, name="Chatty One")
    assert await quiet.client.notification_preferences() == {"email_reminders": True, "email_updates": True}
    saved = await quiet.client.set_notification_preferences(email_reminders=True, email_updates=False)
    assert saved == {"email_reminders": True, "email_updates": False}
    client = await signed_up(clients(server.url))
    day = next_weekday_date(2)
    await client.book(quiet.offering_id, f"{day}T09:00:00Z")
    await client.book(chatty.offering_id, f"{day}T09:00:00Z")

    await mailbox.wait_for(lambda ms: len(ms) >= 1)
    await asyncio.sleep(1.0)
    assert [m["To"].addresses[0].display_name for m in mailbox.messages] == ["Chatty One"]
    assert len((await quiet.client.notifications())["items"]) == 1  # still in the app
