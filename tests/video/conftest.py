"""Fixtures of the video tests: bookings made over the API, real server processes, SDK video calls.

Participants run in this process (``klear_client.video.VideoCall`` over real
Socket.IO, real aiortc peers); the SFU runs in the server processes. The
client side gathers loopback ICE candidates only (``klear_client.loopback``),
like the SFU core tests; the servers gather on their own interfaces as in
production.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from klear_client import KlearClient, Realtime
from klear_client.loopback import loopback_ice
from klear_client.media import encode_opus_loop, encode_vp8_loop
from klear_client.video import VideoCall

from ..conftest import StartServer, signed_up
from ..support.media import Media
from ..support.servers import ServerProcess, stop_all

ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"}
           for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")]


@pytest.fixture(scope="session")
def media() -> Media:
    return Media(video=encode_vp8_loop(frames=90), audio=encode_opus_loop(frames=100))


@pytest.fixture(scope="package", autouse=True)
def _loopback_only() -> Iterator[None]:
    with loopback_ice():
        yield


@dataclass
class Booked:
    """A video booking between a client and a practitioner, each signed in on their own SDK client."""

    client: KlearClient
    practitioner: KlearClient
    booking: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.booking["id"])


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def practitioner_with_offering(c: KlearClient, *, duration_min: int = 30, capacity: int = 1) -> tuple[str, str]:
    """A practitioner open around the clock, bookable at 5-minute steps with no notice, with one video offering
    (a class if `capacity` is above one); returns (id, offering id)."""
    await signed_up(c, "practitioner", "Europe/Berlin", name="Pat Practitioner")
    pid = c.session.user_id  # type: ignore[union-attr]
    await c.save_practitioner_profile(
        pid, bio="Teacher.", modalities=["yoga"], languages=["en"], time_zone="Europe/Berlin",
        booking_rules={"min_notice_min": 0, "horizon_days": 30, "slot_interval_min": 5},
    )
    offering = await c.create_offering(pid, name="Video yoga", duration_min=duration_min, price_minor=1000,
                                       currency="EUR", mode="video", capacity=capacity)
    await c.set_hours(pid, ALL_DAY)
    return pid, offering["id"]


async def book_video(
    practitioner: KlearClient, client: KlearClient, *, starts_after: timedelta = timedelta(0), duration_min: int = 30,
) -> Booked:
    """Sign both up and book the first slot at least `starts_after` from now (the first is under 5 minutes away)."""
    pid, offering_id = await practitioner_with_offering(practitioner, duration_min=duration_min)
    await signed_up(client, "client", "America/New_York", name="Cleo Client")
    earliest = datetime.now(UTC) + starts_after
    found = await client.slots(pid, offering_id, iso(earliest), iso(earliest + timedelta(hours=2)), "UTC")
    booking = await client.book(offering_id, found["slots"][0]["start"])
    assert booking["status"] == "confirmed", booking
    return Booked(client, practitioner, booking)


@pytest.fixture
async def calls(media: Media) -> AsyncIterator[Callable[..., Awaitable[VideoCall]]]:
    """Connect an SDK client's Socket.IO and give it a VideoCall; everything is closed at the end."""
    made: list[tuple[Realtime, VideoCall]] = []

    async def connect(client: KlearClient) -> VideoCall:
        realtime = Realtime(client, reconnect=False)
        await realtime.connect()
        call = VideoCall(realtime, media.sources)
        made.append((realtime, call))
        return call

    yield connect
    for realtime, call in made:
        await call.close()
        await realtime.close()


async def next_event(realtime: Realtime, name: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
    """The next `name` event whose data has the `match` items, skipping others."""
    async def wait() -> dict[str, Any]:
        while True:
            event, data = await realtime.events.get()
            if event == name and all(data.get(k) == v for k, v in match.items()):
                return dict(data)
    return await asyncio.wait_for(wait(), timeout)


async def gauge(client: KlearClient, name: str) -> float:
    """One of the server's metrics (a gauge without labels)."""
    text = (await client.raw("GET", "/metrics", auth=False)).raw.decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


@pytest.fixture
async def start_server(start_server: StartServer) -> AsyncIterator[StartServer]:
    """The shared fixture, plus: no server of a video test may log an error, shutdown included."""
    started: list[ServerProcess] = []

    async def start(args: list[str] | None = None, **overrides: str) -> ServerProcess:
        server = await start_server(args, **overrides)
        started.append(server)
        return server

    yield start
    await stop_all(started)
    errors = [entry for s in started for entry in s.logs if entry.get("level") in ("error", "critical")]
    assert not errors, errors
