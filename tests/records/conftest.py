"""Fixtures of the records tests: a practitioner, a client and a booking between them."""

from __future__ import annotations

from dataclasses import dataclass

from klear_client import KlearClient

from ..conftest import signed_up
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
