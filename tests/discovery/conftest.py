"""Fixtures of the discovery tests: practitioners with places, modalities and offerings, made over the API."""

from __future__ import annotations

from dataclasses import dataclass
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
    weekly: list[dict[str, Any]] | None = None, rules: dict[str, Any] | None = None,
) -> Listed:
    """A practitioner named `name` with a profile and one offering (video unless `offering` says otherwise)."""
    await signed_up(c, "practitioner", "Europe/London", name=name)
    pid = c.session.user_id
    profile: dict[str, Any] = {
        "bio": bio, "modalities": modalities, "languages": languages or ["en"], "time_zone": "Europe/London",
        "booking_rules": {**OPEN_RULES, **(rules or {})},
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
