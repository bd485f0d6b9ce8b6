"""Fixtures of the discovery tests: practitioners with places, modalities and offerings, made over the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from klear_client import KlearClient

from ..conftest import signed_up
from ..scheduler.conftest import NINE_TO_FIVE, OPEN_RULES


@dataclass
class Listed:
    client: KlearClient
    id: str
    offering_id: str


async def listed(
    c: KlearClient, name: str, *, modalities: list[str], languages: list[str] | None = None, bio: str = "",
    location: tuple[float, float, str] | None = None, offering: dict[str, Any] | None = None,
    weekly: list[dict[str, Any]] | None = None, rules: dict[str, Any] | None = None, show_available_now: bool = False,
) -> Listed:
    """A practitioner named `name` with a profile and one offering (video unless `offering` says otherwise)."""
    await signed_up(c, "practitioner", "Europe/London", name=name)
    pid = c.session.user_id
    profile: dict[str, Any] = {
        "bio": bio, "modalities": modalities, "languages": languages or ["en"], "time_zone": "Europe/London",
        "booking_rules": {**OPEN_RULES, **(rules or {})}, "show_available_now": show_available_now,
    }
    if location is not None:
        profile["location"] = {"latitude": location[0], "longitude": location[1], "place": location[2]}
    await c.save_practitioner_profile(pid, **profile)
    made = await c.create_offering(pid, **{
        "name": f"{modalities[0].replace('_', ' ').title()} session", "duration_min": 60, "price_minor": 5000,
        "currency": "GBP", "mode": "video", **(offering or {}),
    })
    await c.set_hours(pid, NINE_TO_FIVE if weekly is None else weekly)
    return Listed(c, pid, made["id"])


async def admin_on(c: KlearClient, database_url: str) -> KlearClient:
    """An admin signed in on `c`: registered as a client, given the admin role in the database (as
    `klear create-admin` does), signed in again so the token carries the role."""
    import asyncpg

    from ..conftest import PASSWORD, new_email

    email = new_email("admin")
    await c.register(email, PASSWORD, "Admin", "client", "UTC")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", c.session.user_id)
    finally:
        await conn.close()
    await c.login(email, PASSWORD)
    return c


async def completed_booking(app: Any, p: Listed, client: KlearClient) -> dict[str, Any]:
    """A booking of `p`'s offering by `client` a week ahead on the app's clock, then completed by the practitioner
    once the app's clock has passed its start."""
    from datetime import timedelta

    from klear_client import ApiError

    day = (app.clock.now() + timedelta(days=7)).date().isoformat()
    slot = (await client.slots(p.id, p.offering_id, day, day, "UTC"))["slots"][0]
    booked = await client.book(p.offering_id, slot["start"])
    start = datetime.fromisoformat(slot["start"].replace("Z", "+00:00"))
    await app.clock.set(start + timedelta(minutes=5))
    try:
        await p.client.booking_action(booked["id"], "complete")
    except ApiError as err:  # the booking's own finishing job got there first
        assert err.code == "illegal_transition", err
    return booked


async def first_free_recorded(app: Any) -> None:
    """Wait until the job `search.first_free` has recorded every first free slot that is due on the app's clock
    (search ranks by them; a practitioner just set up is due at once)."""
    import asyncpg

    from ..support.eventually import eventually

    async def none_due() -> None:
        conn = await asyncpg.connect(app.env["DATABASE_URL"])
        try:
            due = await conn.fetchval("SELECT count(*) FROM next_free_due WHERE due_at <= $1", app.clock.now())
        finally:
            await conn.close()
        assert due == 0, f"{due} first free slots still due"

    await eventually(none_due)
