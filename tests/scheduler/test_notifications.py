"""In-app notifications over REST, and preferences deciding which of them also come by email."""

from __future__ import annotations

import asyncpg
import pytest

from ..conftest import signed_up
from ..support.eventually import eventually, holds
from .conftest import ALL_DAY, make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick


async def test_notifications_are_listed_newest_first_and_marked_read(app, clients, database_url):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY)
    client = await signed_up(clients(app.url))
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


async def test_preferences_choose_what_is_also_emailed(start_app, clients, mailbox, database_url):
    server = await start_app(**mailbox.env)
    quiet = await make_practitioner(clients(server.url), weekly=ALL_DAY, name="Quiet One")
    chatty = await make_practitioner(clients(server.url), weekly=ALL_DAY, name="Chatty One")
    assert await quiet.client.notification_preferences() == {"email_reminders": True, "email_updates": True}
    saved = await quiet.client.set_notification_preferences(email_reminders=True, email_updates=False)
    assert saved == {"email_reminders": True, "email_updates": False}
    client = await signed_up(clients(server.url))
    day = next_weekday_date(2)
    await client.book(quiet.offering_id, f"{day}T09:00:00Z")
    await client.book(chatty.offering_id, f"{day}T09:00:00Z")

    await eventually(lambda: holds(len(mailbox.messages) >= 1))

    async def emails_settled() -> None:  # every email queued so far has been sent: the mailbox is final
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'email.send' AND state <> 'done'") == 0
        finally:
            await conn.close()

    await eventually(emails_settled)
    assert [m["To"].addresses[0].display_name for m in mailbox.messages] == ["Chatty One"]
    assert len((await quiet.client.notifications())["items"]) == 1  # still in the app
