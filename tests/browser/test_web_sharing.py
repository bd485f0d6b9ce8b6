"""Sharing health records in the web app (tests/browser/sharing.mjs): a practitioner asks for access on a
booking, the client on a 390x844 screen accepts by keyboard alone, the practitioner can then read the
client's history over the API, the client finds that read in "Who has seen my health data", stops sharing,
and the practitioner's next read is refused; a request that expired before the client answered says so.
axe-core finds nothing on any of the new screens at desktop and phone size.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from klear_client import ApiError

from ..conftest import PASSWORD, signed_up
from ..scheduler.conftest import ALL_DAY, iso, make_practitioner, next_weekday_date, parse
from .stepped import SteppedScript
from .test_web_journey import HERE, require_browser


async def test_a_client_accepts_a_request_for_their_records_by_keyboard_sees_who_read_them_and_stops_sharing(
    app, clients, tmp_path
) -> None:
    require_browser()
    practice = await make_practitioner(clients(app.url), weekly=ALL_DAY, name="Pat Practitioner")
    client = await signed_up(clients(app.url), "client", "America/New_York", name="Cleo Client")
    booking = await client.book(practice.offering_id, f"{next_weekday_date(3)}T12:00:00Z")
    latex = await client.add_history("allergy", "Latex", "Hives on contact.")
    client_id = client.session.user_id
    emails = [c.session.user["email"] for c in (practice.client, client)]  # type: ignore[index]

    shots = os.environ.get("KLEAR_WEB_SCREENS") or str(tmp_path)
    proc = await asyncio.create_subprocess_exec("node", str(HERE / "sharing.mjs"), app.url, *emails, PASSWORD, shots,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    driver = SteppedScript(proc)
    try:
        with pytest.raises(ApiError) as before:
            await practice.client.records(client_id)
        assert before.value.code == "consent_required", "nothing is shared before the client accepts"

        accepted = await driver.next()
        session_end = parse(booking["end_at"])
        assert accepted["before"] == "Health recordsYou cannot read Cleo Client's health records.Ask for access to health records"
        assert accepted["choices"] == [" Health history", " Intake answers", " Session notes", " Attachments"]
        assert all(accepted["hints"]), "each part of the record is described in plain words"
        assert accepted["length"].startswith("30 days after the session")
        assert accepted["waiting"].startswith("Waiting for Cleo Client's answer: you asked to read their health history and session notes until ")
        assert "your health history (conditions, medication, allergies and notes)" in accepted["asked"]
        assert "session notes from your other practitioners" in accepted["asked"]
        assert accepted["toast"].startswith("Pat Practitioner asks to read your health history"), "told as it arrives"
        assert accepted["after_accept"].startswith("Shared with Pat Practitioner until "), "focus moves to the new state"
        assert "Stop sharing" in accepted["shared"]
        assert accepted["accepted"].startswith("Accepted: Cleo Client shares their health history and session notes with you until ")
        grant = next(g for g in await client.consents() if g["booking_id"] == booking["id"])
        assert grant["status"] == "active" and grant["scopes"] == ["history", "notes"]
        expires = parse(grant["expires_at"])
        assert expires - session_end == timedelta(days=30)

        # The practitioner reads the client's history over the API, under the grant.
        records = await practice.client.records(client_id)
        assert [r["current"]["body"]["title"] for r in records] == ["Latex"]
        assert (await practice.client.record(latex["id"]))["current"]["body"]["text"] == "Hives on contact."
        await driver.go_on()

        revoked = await driver.next()
        assert revoked["event"] == "revoked"
        entries = revoked["entries"]
        assert len(entries) == 3
        assert "Allowed: Pat Practitioner read “Latex” in your health history." in entries[0]
        assert "Allowed: Pat Practitioner read your records." in entries[1]
        assert "Refused: Pat Practitioner tried to read your records." in entries[2], "the read before consent"
        log = await client.access_log(about="health")
        assert revoked["times"] == [e["at"] for e in log], "each entry is the audit log's, newest first"
        shown_at = parse(log[0]["at"]).astimezone(ZoneInfo("America/New_York"))
        assert shown_at.strftime("%-I:%M %p") in entries[0], "in the client's time zone"
        assert any("Shared with Pat Practitioner until" in s for s in revoked["shared_now"])
        assert "Cleo Client stopped sharing their health records with you." in revoked["revoked"]
        assert "Ask again for access to health records" in revoked["revoked"]

        with pytest.raises(ApiError) as after:
            await practice.client.record(latex["id"])
        assert after.value.status == 403 and after.value.code == "consent_required"

        # Asked again, with an hour to answer; the server's clock passes it before the client answers.
        await practice.client.propose_consent(booking["id"], ["history"], iso(app.clock.now() + timedelta(hours=1)))
        await app.clock.advance(timedelta(hours=2))
        await driver.go_on()
        finished = await driver.next()
        assert finished["event"] == "finished"
        late = finished["late"]
        assert late["error"] == "This request expired before it was accepted; the practitioner can ask again."
        assert late["buttons"] == 0 and late["focused"] == late["error"], "said where the buttons were, and focused"
        with pytest.raises(ApiError):
            await practice.client.record(latex["id"])

        checked = finished["screens"]
        assert {(s["screen"], s["size"]) for s in checked} == {
            (screen, size) for screen in ("ask for access to health records", "request waiting", "request accepted",
                                          "request to answer (phone)", "sharing (phone)",
                                          "who has seen my health data (phone)", "request expired (phone)")
            for size in ("desktop", "phone")}
        assert [s for s in checked if s["violations"]] == [], "axe-core finds nothing on the new screens"
        assert [(s["screen"], s["size"]) for s in checked if s["overflow"] > 0] == [], "nothing scrolls sideways"
        assert finished["outside"] == []
        # The browser logs the refused Accept (422), which the page expected; nothing else may fail.
        assert [e for e in finished["console_errors"] if "status of 422" not in e] == []
    finally:
        await driver.close()
