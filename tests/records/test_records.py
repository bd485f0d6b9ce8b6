"""Health records and consent over the API: who reads what, versions, expiry and revocation at once, the audit
of every access and refusal, sealed storage, and bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import pytest

from klear_client import ApiError, KlearClient

from ..channels.conftest import realtime  # noqa: F401  (fixture)
from ..conftest import PASSWORD, signed_up
from ..scheduler.conftest import ALL_DAY, iso, make_practitioner, next_weekday_date
from .conftest import OFFERING, SEALED, booked_pair, read_back, table_contents, with_personal_data

pytestmark = pytest.mark.quick


async def _audit(database_url: str, subject: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT actor_id::text, action, resource, reason, outcome, request_id FROM audit_log "
            "WHERE subject_id = $1::uuid ORDER BY seq", subject)
    finally:
        await conn.close()


async def test_a_practitioner_without_consent_gets_403_and_the_attempt_is_audited(app, clients, database_url):
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("allergy", "Penicillin", "Rash within hours.")

    with pytest.raises(ApiError) as refused:
        await pair.practitioner.record(entry["id"])
    assert refused.value.status == 403 and refused.value.code == "consent_required"
    with pytest.raises(ApiError) as listed:
        await pair.practitioner.records(pair.client_id)
    assert listed.value.status == 403 and listed.value.code == "consent_required"

    denied = [e for e in await _audit(database_url, pair.client_id) if e["outcome"] == "denied"]
    assert denied and all(e["actor_id"] == pair.practitioner_id and e["request_id"] for e in denied)
    assert {e["action"] for e in denied} == {"record.read", "record.list"}
    log = await pair.client.access_log()
    assert {e["outcome"] for e in log} == {"denied"} and log[0]["actor_id"] == pair.practitioner_id


async def test_a_grant_lets_the_practitioner_read_until_it_expires_and_each_read_is_audited(app, clients, database_url):
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("medication", "Sertraline", "50 mg daily")
    expires = app.clock.now() + timedelta(hours=1)
    grant = await pair.client.grant_consent(pair.practitioner_id, ["history"], iso(expires))

    read = await pair.practitioner.record(entry["id"])
    assert read["current"]["body"] == {"category": "medication", "title": "Sertraline", "text": "50 mg daily"}
    assert [r["id"] for r in await pair.practitioner.records(pair.client_id)] == [entry["id"]]
    reads = [e for e in await _audit(database_url, pair.client_id) if e["action"] == "record.read"]
    assert reads[-1]["reason"] == f"grant:{grant['id']}" and reads[-1]["outcome"] == "allowed"

    await app.clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(ApiError) as expired:
        await pair.practitioner.record(entry["id"])
    assert expired.value.code == "consent_required"


async def test_revocation_takes_effect_at_once_and_reaches_the_connected_practitioner(app, clients, realtime):  # noqa: F811
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("condition", "Asthma")
    grant = await pair.client.grant_consent(pair.practitioner_id, ["history", "notes"],
                                            iso(app.clock.now() + timedelta(days=30)))
    live = await realtime(pair.practitioner)
    assert (await pair.practitioner.record(entry["id"]))["id"] == entry["id"]

    revoked = await pair.client.revoke_consent(grant["id"])
    assert revoked["status"] == "revoked"
    with pytest.raises(ApiError) as refused:
        await pair.practitioner.record(entry["id"])
    assert refused.value.code == "consent_required"
    event = await live.next_event("consent:revoked", timeout=5)
    assert event["id"] == grant["id"] and event["client_id"] == pair.client_id


async def test_a_booking_carries_a_proposed_grant_the_client_accepts_or_declines(app, clients):
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("condition", "Migraine")
    until = iso(app.clock.now() + timedelta(days=7))
    declined = await pair.practitioner.propose_consent(pair.booking_id, ["history"], until)
    assert declined["status"] == "proposed"
    with pytest.raises(ApiError):
        await pair.practitioner.record(entry["id"])  # a proposal grants nothing yet
    assert (await pair.client.decide_consent(declined["id"], False))["status"] == "declined"
    with pytest.raises(ApiError):
        await pair.practitioner.record(entry["id"])

    accepted = await pair.practitioner.propose_consent(pair.booking_id, ["history"], until)
    assert (await pair.client.decide_consent(accepted["id"], True))["status"] == "active"
    assert (await pair.practitioner.record(entry["id"]))["current"]["body"]["title"] == "Migraine"
    with pytest.raises(ApiError) as again:
        await pair.client.decide_consent(accepted["id"], False)
    assert again.value.status == 404


async def test_a_proposal_and_its_answer_reach_both_people_live_with_their_names(app, clients, realtime):  # noqa: F811
    pair = await booked_pair(clients, app.url)
    client_live, practitioner_live = await realtime(pair.client), await realtime(pair.practitioner)
    until = iso(app.clock.now() + timedelta(days=30))

    proposal = await pair.practitioner.propose_consent(pair.booking_id, ["history", "intake"], until)
    arrived = await client_live.next_event("consent:proposed", timeout=5)
    assert arrived["id"] == proposal["id"] and arrived["booking_id"] == pair.booking_id
    assert arrived["status"] == "proposed" and arrived["scopes"] == ["history", "intake"]
    assert arrived["practitioner_name"] == "Test Practitioner" and arrived["client_name"] == "Test Client"
    assert proposal["practitioner_name"] == "Test Practitioner"

    await pair.client.decide_consent(proposal["id"], False)
    answer = await practitioner_live.next_event("consent:declined", timeout=5)
    assert answer["id"] == proposal["id"] and answer["status"] == "declined"
    listed = await pair.practitioner.consents()
    assert [(g["id"], g["status"], g["client_name"]) for g in listed] == [(proposal["id"], "declined", "Test Client")]


async def test_a_proposal_past_its_expiry_cannot_be_accepted_and_grants_nothing(app, clients):
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("condition", "Asthma")
    proposal = await pair.practitioner.propose_consent(pair.booking_id, ["history"], iso(app.clock.now() + timedelta(hours=1)))
    await app.clock.advance(timedelta(hours=1, seconds=1))

    late = await pair.client.raw("POST", f"/api/v1/consents/{proposal['id']}/decision", json_body={"accept": True})
    assert late.status == 422 and late.body["error"]["code"] == "invalid_consent"
    assert "expired" in late.body["error"]["message"]
    with pytest.raises(ApiError) as refused:
        await pair.practitioner.record(entry["id"])
    assert refused.value.code == "consent_required"
    assert (await pair.client.decide_consent(proposal["id"], False))["status"] == "declined"


async def test_the_access_log_names_who_read_and_can_keep_to_health_records(app, clients):
    pair = await booked_pair(clients, app.url)
    entry = await pair.client.add_history("allergy", "Latex")
    await pair.client.grant_consent(pair.practitioner_id, ["history"], iso(app.clock.now() + timedelta(days=1)))
    await pair.practitioner.record(entry["id"])
    await pair.practitioner.user(pair.client_id)  # the client's public profile: their data, not their health record

    everything = await pair.client.access_log()
    assert {e["action"] for e in everything} >= {"record.read", "user.read"}
    health = await pair.client.access_log(about="health")
    assert [(e["action"], e["actor_name"], e["outcome"]) for e in health] == [("record.read", "Test Practitioner", "allowed")]
    assert await pair.client.access_log(about="health", before=health[0]["id"]) == []


async def test_session_notes_are_the_clients_to_read_unless_private_and_edits_keep_versions(app, clients, database_url):
    pair = await booked_pair(clients, app.url)
    shared = await pair.practitioner.add_note(pair.booking_id, "Worked on breathing.")
    private = await pair.practitioner.add_note(pair.booking_id, "Consider referral.", private=True)

    mine = {r["id"]: r for r in await pair.client.records()}
    assert shared["id"] in mine and private["id"] not in mine
    with pytest.raises(ApiError) as hidden:
        await pair.client.record(private["id"])
    assert hidden.value.status == 404

    edited = await pair.practitioner.edit_record(shared["id"], "Worked on breathing and posture.")
    assert edited["version"] == 2
    versions = await pair.client.record_versions(shared["id"])
    assert [v["body"]["text"] for v in versions] == ["Worked on breathing.", "Worked on breathing and posture."]
    with pytest.raises(ApiError) as not_author:
        await pair.client.edit_record(shared["id"], "Rewritten by the client")
    assert not_author.value.status == 403
    writes = [e for e in await _audit(database_url, pair.client_id) if e["action"] == "record.write"]
    assert all(e["reason"] == f"booking:{pair.booking_id}" for e in writes) and len(writes) == 3


async def test_the_database_holds_no_plaintext_of_any_sealed_field(app, clients, database_url, realtime):  # noqa: F811
    pair = await booked_pair(clients, app.url)
    health = ["Zyrtec-4711-plaintext", "Hypertension-4711-plaintext", "Note-4711-plaintext"]
    await pair.client.add_history("medication", health[0], health[1])
    await pair.practitioner.add_note(pair.booking_id, health[2])
    personal = await with_personal_data(clients, app.url, realtime)
    await read_back(personal.client, personal.practitioner, personal)  # all written, and readable to the API

    tables = await table_contents(database_url)
    assert len(tables["health_record_versions"][0]) > 0 and len(tables["notifications"][0]) > 0
    for table, (raw, text) in tables.items():
        for plain in (*health, *SEALED):
            assert plain.encode() not in raw and plain not in text, (table, plain)
        if table != "offerings":  # where the offering's name is public; a notification repeats it sealed
            assert OFFERING.encode() not in raw and OFFERING not in text, table
    conn = await asyncpg.connect(database_url)
    try:
        client = await conn.fetchrow("SELECT display_name, name_sealed, email_sealed FROM users WHERE id = $1::uuid",
                                     personal.client.session.user_id)
        practitioner = await conn.fetchval("SELECT display_name FROM users WHERE id = $1::uuid", personal.practice.id)
    finally:
        await conn.close()
    assert client["display_name"] is None and client["name_sealed"] and client["email_sealed"]
    assert practitioner == "Test Practitioner"  # a practitioner's name is public: their profile shows it


async def _key_loads(client: KlearClient) -> float:
    """How many times this process loaded data keys from the database (the batch query's count)."""
    text = (await client.raw("GET", "/metrics")).raw.decode()
    found = re.search(r'klear_db_query_duration_seconds_count\{ok="true",query="keyring.load_or_create"\} (\S+)', text)
    return 0.0 if found is None else float(found.group(1))


async def test_a_list_naming_many_people_loads_their_keys_in_one_query_and_then_from_memory(
    start_app, clients
):
    first = await start_app()
    practice = await make_practitioner(clients(first.url), weekly=ALL_DAY)
    day = next_weekday_date(3)
    for hour in range(8, 20):  # twelve clients, each a sealed name and a sealed note
        client = await signed_up(clients(first.url), "client", name=f"Client {hour}")
        await client.book(practice.offering_id, f"{day}T{hour:02d}:00:00Z", note=f"note {hour}")
    email = (await practice.client.me())["email"]
    await first.stop()

    fresh = await start_app()  # nothing cached: every key must come from the database
    practitioner = clients(fresh.url)
    await practitioner.login(email, PASSWORD)
    before = await _key_loads(practitioner)
    listed = (await practitioner.bookings())["items"]
    assert sorted(b["client"]["display_name"] for b in listed) == sorted(f"Client {h}" for h in range(8, 20))
    assert {b["note"] for b in listed} == {f"note {h}" for h in range(8, 20)}
    assert await _key_loads(practitioner) == before + 1  # twelve clients' keys, one query
    await practitioner.bookings()
    assert await _key_loads(practitioner) == before + 1  # and none the second time


@pytest.mark.parametrize("body, where", [
    ({"category": "allergy", "title": ""}, "title"),
    ({"category": "diagnosis", "title": "x"}, "category"),
    ({"category": "allergy", "title": "x", "extra": 1}, "extra"),
])
async def test_bad_history_entries_get_422_and_nothing_is_stored(app, clients, database_url, body, where):
    pair = await booked_pair(clients, app.url)
    resp = await pair.client.raw("POST", "/api/v1/records/history", json_body=body)
    assert resp.status == 422 and resp.body["error"]["code"] == "validation_failed"
    assert where in str(resp.body["error"]["details"])
    assert await pair.client.records() == []


async def test_an_unknown_scope_or_past_expiry_is_refused_and_nothing_is_granted(app, clients):
    pair = await booked_pair(clients, app.url)
    unknown = await pair.client.raw("POST", "/api/v1/consents", json_body={
        "practitioner_id": pair.practitioner_id, "scopes": ["genome"], "expires_at": iso(app.clock.now() + timedelta(days=1))})
    assert unknown.status == 422 and unknown.body["error"]["code"] == "validation_failed"
    past = await pair.client.raw("POST", "/api/v1/consents", json_body={
        "practitioner_id": pair.practitioner_id, "scopes": ["history"], "expires_at": iso(app.clock.now() - timedelta(minutes=1))})
    assert past.status == 422 and past.body["error"]["code"] == "invalid_consent"
    assert await pair.client.consents() == []
