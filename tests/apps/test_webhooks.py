"""Webhooks: signed deliveries a real receiver verifies, retries, order per booking, the log, disabling, SSRF."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import pytest

from klear_client import ApiError, InvalidSignature, Realtime, verify_webhook
from scheduler.webhook_http import new_secret, sign

from ..conftest import signed_up
from ..scheduler.conftest import ALL_DAY, make_practitioner, next_weekday_date
from ..support.eventually import eventually, holds
from .conftest import WEBHOOKS, authorised, register_app

pytestmark = pytest.mark.quick
BOOKING_EVENTS = ["booking.created", "booking.confirmed", "booking.cancelled"]


async def _practice_with_hook(app, clients, receiver, events=BOOKING_EVENTS):
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY, needs_approval=True)
    hook = await p.client.subscribe_webhook(receiver.url, events)
    assert hook["secret"].startswith("whsec_")
    receiver.secret = hook["secret"]
    return p, hook


async def _three_changes(app, clients, p, hour: int = 10) -> str:
    client = await signed_up(clients(app.url))
    booking = await client.book(p.offering_id, f"{next_weekday_date(3)}T{hour:02}:00:00Z")
    await p.client.booking_action(booking["id"], "confirm")
    await client.booking_action(booking["id"], "cancel", "called away")
    return str(booking["id"])


async def test_signed_events_reach_a_receiver_in_order_with_a_delivery_log(start_app, clients, receiver):
    app = await start_app(**WEBHOOKS)
    p, hook = await _practice_with_hook(app, clients, receiver)
    booking_id = await _three_changes(app, clients, p)
    await eventually(lambda: holds(len(receiver.delivered()) == 3, receiver.got))
    payloads = [r.payload for r in receiver.delivered()]
    assert [x["type"] for x in payloads] == BOOKING_EVENTS
    assert [x["data"]["booking_seq"] for x in payloads] == [1, 2, 3]
    assert {x["data"]["booking_id"] for x in payloads} == {booking_id}
    assert payloads[2]["data"]["booking"]["status"] == "cancelled" and "note" not in payloads[0]["data"]["booking"]
    assert receiver.refused == 0

    log = await p.client.webhook_deliveries(hook["id"])
    assert [d["type"] for d in log] == list(reversed(BOOKING_EVENTS))
    assert {d["id"] for d in log} == {r.webhook_id for r in receiver.got}
    for d in log:
        [attempt] = d["attempts"]
        assert (d["state"], attempt["status"], attempt["excerpt"]) == ("delivered", 200, "ok")
        assert attempt["latency_ms"] >= 0


async def test_a_failing_receiver_gets_retries_with_the_same_id_and_later_events_wait(start_app, clients, receiver):
    app = await start_app(**WEBHOOKS)
    receiver.answers = [500, 500]
    p, hook = await _practice_with_hook(app, clients, receiver)
    await _three_changes(app, clients, p)
    await eventually(lambda: holds(len(receiver.delivered()) == 3, receiver.got))
    first, second, third, *rest = receiver.got
    assert (first.status, second.status, third.status) == (500, 500, 200)
    assert first.webhook_id == second.webhook_id == third.webhook_id  # the same delivery, tried again
    assert [r.payload["data"]["booking_seq"] for r in receiver.got] == [1, 1, 1, 2, 3]  # later ones waited their turn
    log = await p.client.webhook_deliveries(hook["id"])
    created = next(d for d in log if d["type"] == "booking.created")
    assert [(a["status"], a["error"], a["excerpt"]) for a in created["attempts"]] == [
        (500, "http_status", "receiver says no"), (500, "http_status", "receiver says no"), (200, None, "ok")]


async def test_a_subscription_that_keeps_failing_is_disabled_its_owner_told_and_redelivery_works(
    start_app, clients, receiver
):
    app = await start_app(**WEBHOOKS, KLEAR_WEBHOOK_ATTEMPTS="3")
    receiver.answers = [500] * 3
    p, hook = await _practice_with_hook(app, clients, receiver, ["booking.created"])
    client = await signed_up(clients(app.url))
    await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")

    async def disabled() -> dict:
        [found] = await p.client.webhooks()
        holds(found["disabled_at"] is not None, found)
        return found

    assert (await eventually(disabled))["disabled_reason"] == "failing"
    notices = (await p.client.call("GET", "/notifications"))["items"]
    assert [n["kind"] for n in notices if n["kind"] == "webhook_disabled"] == ["webhook_disabled"]
    [failed] = await p.client.webhook_deliveries(hook["id"])
    assert failed["state"] == "failed" and len(failed["attempts"]) == 3

    await p.client.redeliver_webhook(hook["id"], failed["id"])
    await eventually(lambda: holds(len(receiver.delivered()) == 1, receiver.got))
    assert receiver.delivered()[0].webhook_id == failed["id"]
    await client.book(p.offering_id, f"{next_weekday_date(3)}T12:00:00Z")  # disabled: not delivered
    await p.client.enable_webhook(hook["id"])
    await client.book(p.offering_id, f"{next_weekday_date(3)}T14:00:00Z")
    await eventually(lambda: holds(len(receiver.delivered()) == 2, receiver.got))
    assert receiver.delivered()[1].payload["data"]["booking"]["start_at"].endswith("T14:00:00Z")


async def test_an_apps_subscription_hears_of_those_who_authorised_it_until_they_revoke(start_app, clients, receiver):
    app = await start_app(**WEBHOOKS)
    maker = await signed_up(clients(app.url), "practitioner")
    registered = await register_app(maker)
    hook = await maker.subscribe_webhook(receiver.url, ["booking.created", "availability.changed"],
                                         app_id=registered.record["id"])
    receiver.secret = hook["secret"]
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY)
    await authorised(p.client, registered.oauth, ["bookings:read"])
    client = await signed_up(clients(app.url))
    await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")
    await p.client.set_hours(p.id, ALL_DAY)  # no availability:read granted: not sent
    await eventually(lambda: holds(len(receiver.delivered()) == 1, receiver.got))
    assert receiver.delivered()[0].payload["data"]["booking"]["practitioner_id"] == p.id

    await authorised(p.client, registered.oauth, ["availability:read"])
    await p.client.set_hours(p.id, ALL_DAY)
    await eventually(lambda: holds(len(receiver.delivered()) == 2, receiver.got))
    assert receiver.delivered()[1].payload == {**receiver.delivered()[1].payload, "type": "availability.changed"}
    assert receiver.delivered()[1].payload["data"] == {"practitioner_id": p.id, "change": "hours"}

    await p.client.disconnect_app(registered.record["id"])
    await client.book(p.offering_id, f"{next_weekday_date(3)}T12:00:00Z")
    await p.client.set_hours(p.id, ALL_DAY)
    log = await maker.webhook_deliveries(hook["id"])
    assert len(log) == 2  # nothing written for a person who withdrew the app


async def test_webhook_urls_to_internal_addresses_are_refused(start_app, clients):
    app = await start_app()  # loopback not allowed
    person = await signed_up(clients(app.url), "practitioner")
    for url in ("http://example.org/hook", "https://10.0.0.8/hook", "https://127.0.0.1/hook", "https://localhost/hook",
                "https://169.254.169.254/latest/meta-data", "https://[::1]/hook", "https://[::ffff:192.168.1.1]/hook",
                "https://100.64.0.1/hook", "https://user:pw@example.org/hook", "ftp://example.org/hook"):
        with pytest.raises(ApiError) as err:
            await person.subscribe_webhook(url, ["booking.created"])
        assert (err.value.status, err.value.code) == (422, "webhook_url_refused"), url


async def test_a_name_that_resolves_to_loopback_at_delivery_time_is_not_contacted(start_app, clients, receiver):
    # The subscription was made while loopback was allowed; the server that delivers allows it no longer, as if
    # the name had since been pointed inside: the check after DNS resolution stops the request.
    first = await start_app(**WEBHOOKS)
    p = await make_practitioner(clients(first.url), weekly=ALL_DAY)
    hook = await p.client.subscribe_webhook(f"https://localhost:{receiver.port}/hooks", ["booking.created"])
    await first.stop()
    second = await start_app(KLEAR_WEBHOOK_RETRY_BASE="0.05", KLEAR_WEBHOOK_ATTEMPTS="2")
    p.client.base_url = second.url
    client = await signed_up(clients(second.url))
    await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")

    async def failed() -> dict:
        [delivery] = await p.client.webhook_deliveries(hook["id"])
        holds(delivery["state"] == "failed", delivery)
        return delivery

    delivery = await eventually(failed)
    assert {a["error"] for a in delivery["attempts"]} == {"refused_address"}
    assert receiver.got == [] and receiver.refused == 0  # nothing reached it


def test_the_verifier_refuses_a_tampered_body_another_secret_and_an_old_timestamp():
    secret, body = new_secret(), b'{"type":"booking.created"}'
    now = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": sign(secret, "msg_1", now, body)}
    assert verify_webhook(secret, headers, body) == {"type": "booking.created"}
    for bad_secret, bad_body, at in ((secret, body + b" ", now), (new_secret(), body, now), (secret, body, now + 600)):
        with pytest.raises(InvalidSignature):
            verify_webhook(bad_secret, headers, bad_body, now=at)


async def test_a_new_message_is_reported_without_its_body(start_app, clients, receiver):
    app = await start_app(**WEBHOOKS)
    p = await make_practitioner(clients(app.url), weekly=ALL_DAY)
    hook = await p.client.subscribe_webhook(receiver.url, ["message.created"])
    receiver.secret = hook["secret"]
    client = await signed_up(clients(app.url))
    booking = await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")
    rt = Realtime(client)
    await rt.connect()
    try:
        await rt.join(booking["conversation_id"])
        sent = await rt.send(booking["conversation_id"], "my shoulder still hurts")
    finally:
        await rt.close()
    await eventually(lambda: holds(len(receiver.delivered()) == 1, receiver.got))
    [got] = receiver.delivered()
    assert got.payload["type"] == "message.created"
    assert got.payload["data"] == {
        "conversation_id": booking["conversation_id"], "message_id": sent["id"], "seq": sent["seq"],
        "sender_id": client.session.user_id, "created_at": got.payload["data"]["created_at"]}
    assert "shoulder" not in json.dumps(got.payload)


async def test_a_receiver_that_hangs_holds_up_no_other_job(start_app, clients, receiver):
    app = await start_app(**WEBHOOKS, KLEAR_WEBHOOK_CONCURRENCY="1", KLEAR_JOB_CONCURRENCY="1")
    receiver.hold = asyncio.Event()
    p, _ = await _practice_with_hook(app, clients, receiver, ["booking.created"])
    client = await signed_up(clients(app.url))
    await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z")
    await eventually(lambda: holds(receiver.waiting == 1, receiver.waiting))  # the only webhook slot is busy
    taken = p.client.session.user["email"]
    await clients(app.url).call("POST", "/auth/register", auth=False, json_body={
        "email": taken, "password": "another long passphrase", "display_name": "Someone", "role": "client",
        "time_zone": "UTC"})  # queues the "someone used your address" email job

    async def email_job_done() -> None:
        conn = await asyncpg.connect(app.settings.storage.database_url)
        try:
            state = await conn.fetchval("SELECT state FROM jobs WHERE kind = 'email.account_exists'")
        finally:
            await conn.close()
        holds(state == "done", state)

    await eventually(email_job_done)
    assert receiver.waiting == 1
    receiver.hold.set()
    await eventually(lambda: holds(len(receiver.delivered()) == 1, receiver.got))
