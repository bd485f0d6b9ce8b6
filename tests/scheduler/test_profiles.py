"""Practitioner profiles, offerings, hours and time off over the API; audited reads; health data sealed and kept
out of logs."""

from __future__ import annotations

import asyncpg
import pytest

from klear_client import ApiError

from ..conftest import signed_up
from .conftest import make_practitioner, next_weekday_date

pytestmark = pytest.mark.quick


async def test_anyone_signed_in_reads_a_profile_and_only_its_practitioner_edits_it(app, clients):
    p = await make_practitioner(clients(app.url), tz="Europe/Paris", name="Élodie")
    reader = await signed_up(clients(app.url))
    profile = await reader.practitioner(p.id)
    assert profile["display_name"] == "Élodie" and profile["time_zone"] == "Europe/Paris"
    assert profile["modalities"] == ["yoga", "breathwork"] and profile["languages"] == ["en"]
    assert profile["booking_rules"]["slot_interval_min"] == 30
    assert [o["name"] for o in profile["offerings"]] == ["Hatha yoga"]

    second = await p.client.create_offering(p.id, name="Reiki at the studio", duration_min=45, price_minor=4500,
                                            currency="EUR", mode="in_person", address="3 rue des Lilas, Paris")
    await p.client.update_offering(p.id, p.offering_id, active=False)
    profile = await reader.practitioner(p.id)
    assert [o["name"] for o in profile["offerings"]] == ["Reiki at the studio"]
    assert profile["offerings"][0]["address"] == "3 rue des Lilas, Paris"
    assert len((await p.client.practitioner(p.id))["offerings"]) == 2  # the owner also sees archived ones
    with pytest.raises(ApiError) as err:
        await reader.book(p.offering_id, f"{next_weekday_date(2)}T10:00:00Z")
    assert err.value.code == "unknown_offering"
    assert second["mode"] == "in_person"

    with pytest.raises(ApiError) as err:
        await reader.save_practitioner_profile(p.id, bio="hijacked")
    assert err.value.status == 403
    with pytest.raises(ApiError) as err:
        await reader.hours(p.id)
    assert err.value.status == 403


async def test_search_by_modality_and_language(app, clients):
    p = await make_practitioner(clients(app.url), name="Searchable")
    await p.client.save_practitioner_profile(p.id, modalities=["ayurveda"], languages=["hi", "en"])
    reader = await signed_up(clients(app.url))
    found = await reader.search_practitioners(modality="ayurveda", language="hi")
    assert p.id in [x["id"] for x in found["items"]]
    assert p.id not in [x["id"] for x in (await reader.search_practitioners(modality="reiki"))["items"]]


async def test_hours_overrides_and_time_off_shape_the_slots(app, clients):
    p = await make_practitioner(clients(app.url), tz="UTC")
    day_off, extra = next_weekday_date(1), next_weekday_date(2)
    saved = await p.client.set_hours(
        p.id, [{"weekday": "monday", "start": "09:00", "end": "12:00"}, {"weekday": "monday", "start": "13:00", "end": "17:00"},
               {"weekday": "tuesday", "start": "09:00", "end": "10:00"}],
        [{"date": day_off, "kind": "day_off"}, {"date": extra, "kind": "extra_hours", "start": "18:00", "end": "24:00"}],
    )
    assert saved["weekly"][1] == {"weekday": "monday", "start": "13:00", "end": "17:00"}
    assert saved["overrides"] == sorted([{"date": day_off, "kind": "day_off", "start": None, "end": None},
                                         {"date": extra, "kind": "extra_hours", "start": "18:00", "end": "24:00"}],
                                        key=lambda o: o["date"])  # in date order
    c = await signed_up(clients(app.url))

    async def starts(day: str) -> list[str]:
        return [s["start"][11:16] for s in (await c.slots(p.id, p.offering_id, day, day, "UTC"))["slots"]]

    assert await starts(day_off) == []
    assert await starts(extra) == ["09:00", *[f"{h}:{m}" for h in range(18, 24) for m in ("00", "30")][:-1]]
    monday = next_weekday_date(1, weeks_ahead=2)
    assert await starts(monday) == ["09:00", "09:30", "10:00", "10:30", "11:00", "13:00", "13:30", "14:00", "14:30",
                                    "15:00", "15:30", "16:00"]
    off = await p.client.add_time_off(p.id, f"{monday}T10:00:00Z", f"{monday}T14:00:00Z")
    assert await starts(monday) == ["09:00", "14:00", "14:30", "15:00", "15:30", "16:00"]
    assert [t["id"] for t in (await p.client.hours(p.id))["time_off"]] == [off["id"]]
    await p.client.remove_time_off(p.id, off["id"])
    assert len(await starts(monday)) == 12


async def test_reads_of_others_are_audited_and_health_data_is_sealed_and_unlogged(app, clients):
    p = await make_practitioner(clients(app.url))
    client = await signed_up(clients(app.url))
    note, reason = "recurring lower back pain since March", "my migraine is back"
    booked = await client.book(p.offering_id, f"{next_weekday_date(3)}T10:00:00Z", note=note)
    seen = await p.client.booking(booked["id"])
    assert seen["note"] == note
    await client.booking_action(booked["id"], "cancel", reason)

    conn = await asyncpg.connect(app.env["DATABASE_URL"])
    try:
        row = await conn.fetchrow("SELECT note_sealed, cancel_reason_sealed FROM bookings WHERE id = $1", booked["id"])
        audits = await conn.fetch("SELECT actor_id::text, action, subject_id::text FROM audit_log ORDER BY id")
        everything = await conn.fetchval("SELECT string_agg(body::text, ' ') FROM booking_events")
    finally:
        await conn.close()
    assert note.encode() not in row["note_sealed"] and reason.encode() not in row["cancel_reason_sealed"]
    assert note not in everything and reason not in everything
    actions = [(a["actor_id"], a["action"], a["subject_id"]) for a in audits]
    assert (p.id, "booking.read", client.session.user_id) in actions
    assert (client.session.user_id, "booking.cancel", p.id) in actions
    assert note not in app.log_text() and reason not in app.log_text()
