"""The users a load test drives: made through the admin path, set up as themselves, removed at the end.

Accounts come from `POST /admin/test-users` in batches of up to 1,000, already signed in. Each
practitioner then saves a profile, one offering and round-the-clock hours through the public API; each
chat pair asks for and accepts a conversation. Nothing is written to the database behind the server's
back, and `DELETE /admin/test-users/{batch}` removes the batch with all it made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from klear_client import KlearClient, Session

from .mix import Mix

BATCH = 1000
SETUP_CONCURRENCY = 16
ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"}
           for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")]
OPEN_RULES = {"min_notice_min": 0, "horizon_days": 730, "slot_interval_min": 30}


@dataclass
class Plan:
    """Who does what, split into one share per generator process."""

    batch_id: str
    practitioners: list[dict[str, Any]]  # {id, offering_id}: what every process books and browses
    shares: list[dict[str, Any]] = field(default_factory=list)


async def _limited(work: Iterable[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(j) for j in work))


def _as(base_url: str, http: aiohttp.ClientSession, made: dict[str, Any]) -> KlearClient:
    client = KlearClient(base_url, session=http)
    client.session = Session.of_test_user(made)
    return client


async def _set_up_practitioner(client: KlearClient) -> dict[str, Any]:
    assert client.session is not None
    pid = client.session.user_id
    await client.save_practitioner_profile(pid, bio="Load-test practitioner.", modalities=["yoga"], languages=["en"],
                                           time_zone="UTC", booking_rules=OPEN_RULES)
    offering = await client.create_offering(pid, name="Load-test session", duration_min=30, price_minor=1000,
                                            currency="EUR", mode="video")
    await client.set_hours(pid, ALL_DAY)
    return {"id": pid, "offering_id": offering["id"]}


async def _book_video(practitioner: KlearClient, client: KlearClient) -> str:
    """A practitioner bookable every 5 minutes, and a confirmed hour-long video booking starting within 5:
    its session is open for the whole run (from 10 minutes before the start to 15 after the end)."""
    assert practitioner.session is not None
    pid = practitioner.session.user_id
    await practitioner.save_practitioner_profile(
        pid, bio="Load-test practitioner.", modalities=["yoga"], languages=["en"], time_zone="UTC",
        booking_rules={**OPEN_RULES, "slot_interval_min": 5})
    offering = await practitioner.create_offering(pid, name="Load-test video", duration_min=60, price_minor=1000,
                                                  currency="EUR", mode="video")
    await practitioner.set_hours(pid, ALL_DAY)
    now = datetime.now(UTC)
    found = await client.slots(pid, offering["id"], _iso(now), _iso(now + timedelta(hours=1)), "UTC")
    booking = await client.book(offering["id"], found["slots"][0]["start"])
    if booking["status"] != "confirmed":
        await practitioner.booking_action(booking["id"], "confirm")
    return str(booking["id"])


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


async def _pair(a: KlearClient, b: KlearClient) -> str:
    assert b.session is not None
    conv = await a.request_conversation(b.session.user_id)
    await b.accept_conversation(conv["id"])
    return str(conv["id"])


async def seed(admin: KlearClient, mix: Mix, processes: int, say: Callable[[str], None]) -> Plan:
    """Create and set up the users of `mix`, and split them into `processes` shares."""
    counts = mix.counts()
    pairs_n = counts["chat"] // 2  # a direct conversation is between a client and a practitioner
    practitioners_n = counts["subscribers"] + pairs_n + mix.video_pairs
    made: list[dict[str, Any]] = []
    batch_id: str | None = None
    roles = ["practitioner"] * practitioners_n + ["client"] * (counts["total"] - practitioners_n)
    for start in range(0, len(roles), BATCH):
        chunk = roles[start:start + BATCH]
        got = await admin.create_test_users(
            practitioners=chunk.count("practitioner"), clients=chunk.count("client"), batch_id=batch_id)
        batch_id = got["batch_id"]
        made.extend(got["users"])
        say(f"seeding: {len(made)}/{len(roles)} accounts")
    assert batch_id is not None
    try:
        return await _set_up(admin, made, counts, pairs_n, mix.video_pairs, processes, batch_id, say)
    except BaseException:
        await admin.remove_test_users(batch_id)
        raise


async def _set_up(admin: KlearClient, made: list[dict[str, Any]], counts: dict[str, int], pairs_n: int,
                  video_n: int, processes: int, batch_id: str, say: Callable[[str], None]) -> Plan:
    all_practitioners = [u for u in made if u["role"] == "practitioner"]
    subs = counts["subscribers"]
    practitioners = all_practitioners[:subs]
    chat_practitioners = all_practitioners[subs:subs + pairs_n]
    video_practitioners = all_practitioners[subs + pairs_n:]
    all_clients = [u for u in made if u["role"] == "client"]
    video_clients, clients = all_clients[:video_n], all_clients[video_n:]
    http = admin.http
    catalog = await _limited([
        (lambda u=u: _set_up_practitioner(_as(admin.base_url, http, u))) for u in practitioners])
    say(f"seeding: {len(catalog)} practitioners with an offering and hours")
    pairs = list(zip(clients[:pairs_n], chat_practitioners, strict=True))
    conversations = await _limited([
        (lambda a=a, b=b: _pair(_as(admin.base_url, http, a), _as(admin.base_url, http, b))) for a, b in pairs])
    say(f"seeding: {len(conversations)} chat pairs with an accepted conversation")
    bookings = await _limited([
        (lambda p=p, c=c: _book_video(_as(admin.base_url, http, p), _as(admin.base_url, http, c)))
        for p, c in zip(video_practitioners, video_clients, strict=True)])
    say(f"seeding: {len(bookings)} video bookings starting now")
    video = [{"a": c, "b": p, "booking_id": b} for c, p, b in zip(video_clients, video_practitioners, bookings, strict=True)]
    rest = clients[pairs_n:]
    presence, idle = rest[:counts["presence"]], rest[counts["presence"]:]
    plan = Plan(batch_id, catalog)
    for n in range(processes):
        def part(items: list[Any], n: int = n) -> list[Any]:
            return items[n::processes]
        plan.shares.append({
            "index": n,
            "subscribers": part([{**u, **c} for u, c in zip(practitioners, catalog, strict=True)]),
            "pairs": part([{"a": a, "b": b, "conversation_id": c} for (a, b), c in zip(pairs, conversations, strict=True)]),
            "presence": part(presence), "idle": part(idle), "video": part(video),
        })
    return plan


async def remove(admin: KlearClient, batch_id: str) -> int:
    """Delete the batch; with thousands of accounts this is one statement on the server."""
    return await admin.remove_test_users(batch_id)

