"""Fixtures of the records tests: a practitioner, a client and a booking between them; and a client whose every
personal field the server seals holds a known plaintext, to look for in the database and read back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from klear_client import KlearClient

from ..conftest import PASSWORD, signed_up
from ..scheduler.conftest import ALL_DAY, Practice, make_practitioner, next_weekday_date


@dataclass
class Pair:
    practice: Practice
    client: KlearClient
    booking_id: str

    @property
    def practitioner(self) -> KlearClient:
        return self.practice.client

    @property
    def client_id(self) -> str:
        return self.client.session.user_id

    @property
    def practitioner_id(self) -> str:
        return self.practice.id


async def booked_pair(clients, url: str) -> Pair:
    """A practitioner and a client who booked a session with them."""
    practice = await make_practitioner(clients(url), weekly=ALL_DAY)
    client = await signed_up(clients(url), "client")
    booking = await client.book(practice.offering_id, f"{next_weekday_date(3)}T12:00:00Z")
    return Pair(practice, client, booking["id"])


# The plaintext of each personal field sealed with its owner's key (and the offering's name, public in itself,
# which a notification's data repeats): none may be found in the tables that hold them.
NAME, EMAIL = "Zelda Quux-4711", "zelda.quux-4711@example.org"
NOTE, MESSAGE = "Note-4711: my left knee hurts", "Message-4711: running late"
CANCEL_REASON, DECLINE_REASON = "Reason-4711: caught the flu", "Decline-4711: away that week"
OFFERING = "Offering-4711 yoga"
SEALED = (NAME, EMAIL, NOTE, MESSAGE, CANCEL_REASON, DECLINE_REASON)


@dataclass
class Personal:
    """A client (`NAME`, `EMAIL`) with three bookings of `OFFERING`: `kept` (with `NOTE`, confirmed),
    `cancelled` by them (`CANCEL_REASON`), `declined` by the practitioner (`DECLINE_REASON`); `MESSAGE` sent in
    the kept booking's conversation; notifications both ways."""

    practice: Practice
    client: KlearClient
    kept: str
    cancelled: str
    declined: str
    conversation_id: str

    @property
    def practitioner(self) -> KlearClient:
        return self.practice.client


async def with_personal_data(clients: Callable[[str], KlearClient], url: str,
                             realtime: Callable[..., Awaitable[Any]]) -> Personal:
    practice = await make_practitioner(clients(url), weekly=ALL_DAY)
    offering = await practice.client.create_offering(
        practice.id, name=OFFERING, duration_min=60, price_minor=5000, currency="EUR", mode="video",
        needs_approval=True)
    client = clients(url)
    await client.register(EMAIL, PASSWORD, NAME, "client", "Europe/London")
    day = next_weekday_date(3)
    kept = await client.book(offering["id"], f"{day}T09:00:00Z", note=NOTE)
    cancelled = await client.book(offering["id"], f"{day}T11:00:00Z")
    declined = await client.book(offering["id"], f"{day}T13:00:00Z")
    await practice.client.booking_action(kept["id"], "confirm")
    await client.booking_action(cancelled["id"], "cancel", CANCEL_REASON)
    await practice.client.booking_action(declined["id"], "decline", DECLINE_REASON)
    live = await realtime(client)
    await live.join(kept["conversation_id"])
    await live.send(kept["conversation_id"], MESSAGE)
    return Personal(practice, client, kept["id"], cancelled["id"], declined["id"], kept["conversation_id"])


async def read_back(client: KlearClient, practitioner: KlearClient, p: Personal) -> None:
    """Assert every sealed field reads back in clear through the API, to its owner and to the other side."""
    me = await client.me()
    assert (me["email"], me["display_name"]) == (EMAIL, NAME)
    kept = await practitioner.booking(p.kept)
    assert (kept["client"]["display_name"], kept["note"]) == (NAME, NOTE)
    assert (await practitioner.booking(p.cancelled))["cancellation"]["reason"] == CANCEL_REASON
    assert (await client.booking(p.declined))["decline_reason"] == DECLINE_REASON
    history = await practitioner.history(p.conversation_id)
    assert [m["body"] for m in history["messages"]] == [MESSAGE]
    told = (await practitioner.notifications())["items"]
    assert {n["kind"] for n in told} >= {"booking_requested", "booking_cancelled"}
    assert all(n["data"]["counterpart"]["display_name"] == NAME and n["data"]["offering_name"] == OFFERING
               for n in told)
    mine = (await client.notifications())["items"]
    assert {n["kind"] for n in mine} == {"booking_confirmed", "booking_declined"}
    assert all(n["data"]["offering_name"] == OFFERING for n in mine)


async def table_contents(database_url: str) -> dict[str, tuple[bytes, str]]:
    """Every table, read directly: (its bytea values joined, all its other values as text)."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'")]
        out = {}
        for table in tables:
            values = [v for row in await conn.fetch(f'SELECT * FROM "{table}"') for v in row.values()]
            out[table] = (b"".join(bytes(v) for v in values if isinstance(v, bytes)),
                          " ".join(str(v) for v in values if not isinstance(v, bytes)))
        return out
    finally:
        await conn.close()
