"""A database from before migration 0100 (emails, messages, notes and reasons under the system key; clients' names
and notifications in clear) is resealed with each owner's key when a new server starts on it, and reads back the
same through the API; what an erased person left is dropped, not resealed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from server import config, keys
from server.appkeys import RUNTIME
from server.auth.passwords import Passwords
from storage import reseal
from storage.crypto import Sealer
from storage.migrate import available, migrate

from ..conftest import PASSWORD
from .conftest import CANCEL_REASON, EMAIL, MESSAGE, NAME, NOTE, OFFERING, SEALED, table_contents

PRACTITIONER_EMAIL, PRACTITIONER = "old-practitioner@example.org", "Olga Oldtimer"


async def _old_database(conn: asyncpg.Connection, system: Sealer) -> dict[str, uuid.UUID]:
    """Rows as the code before 0100 wrote them, with its SQL (each INSERT names the columns of that schema)."""
    ids = {name: uuid.uuid4() for name in ("client", "practitioner", "erased", "offering", "conversation", "kept",
                                            "cancelled", "message", "gone_message")}
    password = await Passwords().hash(PASSWORD)

    async def user(who: str, email: str, name: str, role: str, erased: bool = False) -> None:
        await conn.execute(
            """INSERT INTO users (id, email_index, email_sealed, password_hash, display_name, role, time_zone,
                                  erased_at)
               VALUES ($1, $2, $3, $4, $5, $6, 'Europe/London', $7)""",
            ids[who], system.blind_index(email, "users.email"), system.seal_text(email, f"users.email:{ids[who]}"),
            password, name, role, datetime.now(UTC) if erased else None)

    await user("client", EMAIL, NAME, "client")
    await user("practitioner", PRACTITIONER_EMAIL, PRACTITIONER, "practitioner")
    await user("erased", "", "Deleted user", "client", erased=True)
    await conn.execute("INSERT INTO data_keys (owner_id, wrapped, master, shredded_at) VALUES ($1, NULL, '\\x', now())",
                       ids["erased"])
    await conn.execute("INSERT INTO practitioners (user_id, time_zone) VALUES ($1, 'Europe/London')",
                       ids["practitioner"])
    await conn.execute(
        """INSERT INTO offerings (id, practitioner_id, name, duration_min, price_minor, currency, mode)
           VALUES ($1, $2, $3, 60, 5000, 'EUR', 'video')""", ids["offering"], ids["practitioner"], OFFERING)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=10)
    for name, status, offset in (("kept", "confirmed", 0), ("cancelled", "cancelled", 3)):
        begin = start + timedelta(hours=offset)
        await conn.execute(
            """INSERT INTO bookings (id, practitioner_id, client_id, offering_id, conversation_id, status, mode,
                   start_at, end_at, blocked_from, blocked_to, price_minor, currency, late_cancel_min, note_sealed, seq,
                   requested_by, idempotency_key, request_hash, cancelled_by, cancelled_by_role, cancelled_at,
                   cancel_reason_sealed)
               VALUES ($1, $2, $3, $4, $5, $6, 'video', $7, $8, $7, $8, 5000, 'EUR', 1440, $9, 1, $3, $10, '\\x00',
                       $11, $12, $13, $14)""",
            ids[name], ids["practitioner"], ids["client"], ids["offering"], ids["conversation"], status, begin,
            begin + timedelta(hours=1),
            system.seal_text(NOTE, f"bookings.note:{ids[name]}") if name == "kept" else None, name,
            *((ids["client"], "client", datetime.now(UTC),
               system.seal_text(CANCEL_REASON, f"bookings.cancel_reason:{ids[name]}")) if status == "cancelled"
              else (None, None, None, None)))
    await conn.execute(
        "INSERT INTO conversations (id, kind, booking_id, last_seq, last_rev) VALUES ($1, 'booking', $2, 2, 2)",
        ids["conversation"], ids["kept"])
    await conn.execute("INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2), ($1, $3)",
                       ids["conversation"], ids["client"], ids["practitioner"])
    for seq, (message, sender, text) in enumerate(
            (("message", "client", MESSAGE), ("gone_message", "erased", "Words of someone erased")), start=1):
        await conn.execute(
            """INSERT INTO messages (conversation_id, seq, rev, id, sender_id, client_id, body_sealed)
               VALUES ($1, $2, $2, $3, $4, $5, $6)""",
            ids["conversation"], seq, ids[message], ids[sender], uuid.uuid4(),
            system.seal_text(text, f"messages.body:{ids[message]}"))
    told = {"booking_id": str(ids["kept"]), "offering_name": OFFERING, "mode": "video", "address": None,
            "start_at": start.isoformat(), "end_at": (start + timedelta(hours=1)).isoformat()}
    for recipient, kind, other, other_name in (
            ("practitioner", "booking_requested", "client", NAME),
            ("client", "booking_confirmed", "practitioner", PRACTITIONER),
            ("erased", "booking_confirmed", "practitioner", PRACTITIONER)):
        await conn.execute(
            """INSERT INTO notifications (id, user_id, kind, category, booking_id, data)
               VALUES ($1, $2, $3, 'update', $4, $5::jsonb)""",
            uuid.uuid4(), ids[recipient], kind, ids["kept"],
            json.dumps({**told, "counterpart": {"id": str(ids[other]), "display_name": other_name}}))
    return ids


@pytest.fixture
async def old_url(postgres):  # type: ignore[no-untyped-def]
    """An empty database of this test's own, dropped after the apps started on it have stopped."""
    url = await postgres.create(migrated=False)
    yield url
    await postgres.drop(url)


async def test_rows_from_before_owner_keys_are_resealed_at_start_up_and_read_back_through_the_api(
    old_url, start_app, server_env, clients, monkeypatch
):
    url = old_url
    conn = await asyncpg.connect(url)
    try:
        # The schema before 0100, without function files: today's may use tables of later migrations (the old
        # ones are not shipped), and start-up defines them after migrating, as it does on a real upgrade.
        await migrate(conn, [m for m in available() if m.version < 100], functions=[])
        system = Sealer(keys.resolve(config.load(server_env)).data)  # what the old code sealed with
        ids = await _old_database(conn, system)
    finally:
        await conn.close()

    monkeypatch.setattr(reseal, "BATCH", 1)  # every row in a batch of its own: the walk goes on across batches
    app = await start_app(DATABASE_URL=url)

    client, practitioner = clients(app.url), clients(app.url)
    await client.login(EMAIL, PASSWORD)  # the blind index stayed on the system key
    await practitioner.login(PRACTITIONER_EMAIL, PASSWORD)
    me = await client.me()
    assert (me["email"], me["display_name"]) == (EMAIL, NAME)
    kept = await practitioner.booking(str(ids["kept"]))
    assert (kept["client"]["display_name"], kept["practitioner"]["display_name"], kept["note"]) == (
        NAME, PRACTITIONER, NOTE)
    assert (await client.booking(str(ids["cancelled"])))["cancellation"]["reason"] == CANCEL_REASON
    history = (await practitioner.history(str(ids["conversation"])))["messages"]
    assert [(m["body"], m["deleted"]) for m in history] == [(MESSAGE, False), (None, True)]
    told = (await practitioner.notifications())["items"]
    assert [(n["kind"], n["data"]["counterpart"]["display_name"], n["data"]["offering_name"]) for n in told] == [
        ("booking_requested", NAME, OFFERING)]
    assert [n["data"]["counterpart"]["display_name"] for n in (await client.notifications())["items"]] == [
        PRACTITIONER]

    conn = await asyncpg.connect(url)
    try:
        left = await conn.fetchval(
            """SELECT (SELECT count(*) FROM users WHERE email_system_sealed IS NOT NULL
                          OR (display_name IS NOT NULL AND role <> 'practitioner' AND erased_at IS NULL))
                    + (SELECT count(*) FROM messages WHERE body_system_sealed IS NOT NULL)
                    + (SELECT count(*) FROM bookings WHERE num_nonnulls(note_system_sealed,
                          cancel_reason_system_sealed, decline_reason_system_sealed) > 0)
                    + (SELECT count(*) FROM notifications WHERE data IS NOT NULL)
                    + (SELECT count(*) FROM pending_upgrades)""")
        erased_notices = await conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", ids["erased"])
    finally:
        await conn.close()
    assert left == 0 and erased_notices == 0
    tables = await table_contents(url)
    for table, (raw, text) in tables.items():
        for plain in (*SEALED[:4], CANCEL_REASON, "Words of someone erased"):
            assert plain.encode() not in raw and plain not in text, (table, plain)
    db = app.app[RUNTIME].db
    assert await reseal.run(db) == 0  # run again, it finds nothing left to do

