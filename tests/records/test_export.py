"""The GDPR export: a durable job builds an archive of everything about the person, downloaded through an
expiring link; after erasure, an export finds nothing personal."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta

import pytest

from records import export
from server.appkeys import RUNTIME

from ..channels.conftest import realtime  # noqa: F401  (fixture)
from ..conftest import PASSWORD
from ..scheduler.conftest import iso
from ..support.eventually import eventually
from .conftest import booked_pair

pytestmark = pytest.mark.quick


async def _ready(client) -> dict:
    async def ready() -> dict:
        got = await client.export()
        assert got["status"] == "ready", got
        return got

    return await eventually(ready)


async def test_the_export_holds_everything_about_the_person_behind_an_expiring_link(app, clients, realtime):  # noqa: F811
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("allergy", "Peanuts", "Anaphylaxis")
    await pair.client.edit_record(entry["id"], "Anaphylaxis; carries an EpiPen")
    await pair.practitioner.add_note(pair.booking_id, "Shared note")
    await pair.practitioner.add_note(pair.booking_id, "Private note", private=True)
    await pair.client.grant_consent(pair.practitioner_id, ["history"], iso(app.clock.now() + timedelta(days=2)))
    await pair.practitioner.record(entry["id"])
    scan = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    image = await pair.client.upload_attachment(scan, "scan.png", "image/png")
    conversation = (await pair.client.booking(pair.booking_id))["conversation_id"]
    live = await realtime(pair.client)
    await live.join(conversation)
    await live.send(conversation, "See you Wednesday")

    first = await pair.client.export()
    assert first["status"] in ("queued", "ready") and (await pair.client.export())["id"] == first["id"]
    ready = await _ready(pair.client)
    stranger = clients(app.url)  # the link needs no sign-in
    got = await stranger.raw("GET", ready["download_url"])
    assert got.status == 200 and got.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(got.raw))
    document = json.loads(archive.read("export.json"))
    assert archive.read(f"attachments/{image['id']}/1.png") == scan

    assert document["profile"]["email"] == (await pair.client.me())["email"]
    assert [b["id"] for b in document["bookings"]] == [pair.booking_id]
    assert [m["body"] for m in document["messages"]] == ["See you Wednesday"]
    history = next(r for r in document["records"] if r["kind"] == "history")
    assert [v["body"]["text"] for v in history["versions"]] == ["Anaphylaxis", "Anaphylaxis; carries an EpiPen"]
    assert [r["versions"][0]["body"]["filename"] for r in document["records"] if r["kind"] == "attachment"] == ["scan.png"]
    notes = [r["versions"][-1]["body"]["text"] for r in document["records"] if r["kind"] == "note"]
    assert notes == ["Shared note"]  # the private note is not theirs to see
    assert len(document["consents"]) == 1
    assert any(a["actor_id"] == pair.practitioner_id and a["action"] == "record.read" for a in document["audit"])

    wrong = await stranger.raw("GET", ready["download_url"].replace("token=", "token=x"))
    assert wrong.status == 404
    await app.clock.advance(timedelta(hours=25))
    assert (await stranger.raw("GET", ready["download_url"])).status == 404


async def test_after_erasure_an_export_finds_nothing_personal(app, clients, realtime):  # noqa: F811
    pair = await booked_pair(clients, app.url)
    email = (await pair.client.me())["email"]
    await pair.client.add_history("condition", "Epilepsy", "Keppra 500 mg")
    conversation = (await pair.client.booking(pair.booking_id))["conversation_id"]
    live = await realtime(pair.client)
    await live.join(conversation)
    await live.send(conversation, "My seizure diary is attached")
    ready = await _ready(pair.client)
    await pair.client.erase_account(PASSWORD)

    assert (await clients(app.url).raw("GET", ready["download_url"])).status == 404  # the old link died with it
    db = app.app[RUNTIME].db
    document = await export.gather(db, uuid.UUID(pair.client_id))
    text = json.dumps(document)
    for personal in (email, "Test Client", "Epilepsy", "Keppra", "seizure"):
        assert personal not in text
    assert document["profile"]["display_name"] == "Deleted user" and document["profile"]["email"] == ""
    assert document["records"] == [] and document["messages"] == [] and document["consents"] == []
    assert document["notifications"] == []
    assert [b["note"] for b in document["bookings"]] == [None]
