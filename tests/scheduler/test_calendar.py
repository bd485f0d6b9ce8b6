"""Calendar feeds at secret URLs: stable UIDs, rising SEQUENCE, cancelled events marked, rotation, no token in logs."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from ..conftest import signed_up
from .conftest import ALL_DAY, make_practitioner, next_weekday_date


async def _events(c, url: str) -> dict[str, dict]:
    resp = await c.raw("GET", url, auth=False)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(resp.raw)
    return {
        str(e["UID"]): {"sequence": int(e["SEQUENCE"]), "status": str(e["STATUS"]), "summary": str(e["SUMMARY"]),
                        "start": e.decoded("DTSTART"), "location": str(e["LOCATION"])}
        for e in cal.walk("VEVENT")
    }


@pytest.mark.quick
async def test_feeds_keep_uids_raise_sequence_and_mark_cancellations(app, clients):
    server = app
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY, needs_approval=True)
    client = await signed_up(clients(server.url), name="Calendar Client")
    day = next_weekday_date(2)
    a = await client.book(p.offering_id, f"{day}T09:00:00Z")
    b = await client.book(p.offering_id, f"{day}T12:00:00Z")
    client_url, practitioner_url = await client.calendar_feed_url(), await p.client.calendar_feed_url()
    uid_a, uid_b = f"{a['id']}@klear-karma", f"{b['id']}@klear-karma"

    before = await _events(clients(server.url), client_url)
    assert before[uid_a]["status"] == "TENTATIVE" and before[uid_a]["sequence"] == 1
    assert before[uid_a]["summary"] == "Hatha yoga with Test Practitioner"
    assert (await _events(clients(server.url), practitioner_url))[uid_a]["summary"] == "Hatha yoga with Calendar Client"

    await p.client.booking_action(a["id"], "confirm")
    await client.booking_action(b["id"], "cancel")
    after = await _events(clients(server.url), client_url)
    assert set(after) == {uid_a, uid_b}
    assert (after[uid_a]["status"], after[uid_a]["sequence"]) == ("CONFIRMED", 2)
    assert (after[uid_b]["status"], after[uid_b]["sequence"]) == ("CANCELLED", 2)
    assert after[uid_a]["start"].isoformat() == f"{day}T09:00:00+00:00"


async def test_rotating_retires_the_old_url_and_tokens_stay_out_of_logs(server, clients):
    client = await signed_up(clients(server.url))
    old = await client.calendar_feed_url()
    new = await client.calendar_feed_url()
    assert old != new
    anonymous = clients(server.url)
    assert (await anonymous.raw("GET", old, auth=False)).status == 404
    assert (await anonymous.raw("GET", new, auth=False)).status == 200
    assert (await anonymous.raw("GET", "/api/v1/calendar/guess.ics", auth=False)).status == 404
    await client.call("DELETE", "/me/calendar-feed")
    assert (await anonymous.raw("GET", new, auth=False)).status == 404
    await server.logs_flushed()
    for url in (old, new):
        assert url.rsplit("/", 1)[1].removesuffix(".ics") not in server.log_text()
    assert any(e.get("route") == "/api/v1/calendar/{token}.ics" for e in server.logs)

