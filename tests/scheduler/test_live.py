"""The live contract with the socket layer: what is published on the bus, and the storage reads for recovery."""

from __future__ import annotations

import uuid

import msgpack
import pytest
from redis.asyncio import Redis

from storage.bus import RedisBus
from storage.bus_messages import feed_channel, user_channel
from storage import bookings

from ..conftest import signed_up
from ..support.eventually import eventually, holds
from ..support.storage import opened
from .conftest import ALL_DAY, make_practitioner, next_weekday_date

pytestmark = pytest.mark.redis


class Published(dict[str, list[dict]]):
    """Messages published on the bus, as their raw msgpack: "bookings" heard on a followed user's feed channel,
    and "notifications" (`UserPush`: user, event, body) on followed users' channels. Both are routed: only a
    listener of the channel hears them."""

    def __init__(self, bus: RedisBus) -> None:
        super().__init__(bookings=[], notifications=[])
        self._bus = bus

    async def collect_booking(self, channel: str, data: bytes) -> None:
        self["bookings"].append(msgpack.unpackb(data))

    async def collect_push(self, channel: str, data: bytes) -> None:
        user, event, body = msgpack.unpackb(data)
        self["notifications"].append({"user_id": str(uuid.UUID(bytes=user)), "event": event, "notification": body})

    async def follow_feed(self, user_id: str) -> None:
        await self._bus.route(feed_channel(uuid.UUID(user_id)), self.collect_booking)

    async def follow(self, user_id: str) -> None:
        """Hear the notifications of `user_id`."""
        await self._bus.route(user_channel(uuid.UUID(user_id)), self.collect_push)


@pytest.fixture
async def bus_messages(redis_url, redis_env):
    """What the test's servers publish on the routed channels it follows, decoded."""
    redis = Redis.from_url(redis_url)
    bus = RedisBus(redis, redis_env["KLEAR_REDIS_PREFIX"])
    got = Published(bus)
    await bus.start()
    yield got
    await bus.stop()
    await redis.aclose()


async def _settle(got: dict[str, list[dict]], channel: str, count: int) -> list[dict]:
    await eventually(lambda: holds(len(got[channel]) >= count, got[channel]))
    return got[channel]


async def test_every_change_is_published_with_its_booking_and_feed_sequences(
    start_server, redis_env, clients, bus_messages, server_env
):
    server = await start_server(**redis_env)
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY, needs_approval=True)
    client = await signed_up(clients(server.url))
    await bus_messages.follow_feed(client.session.user_id)
    day = next_weekday_date(2)
    a = await client.book(p.offering_id, f"{day}T10:00:00Z")
    await p.client.booking_action(a["id"], "confirm")
    b = await client.book(p.offering_id, f"{day}T14:00:00Z")
    await client.booking_action(b["id"], "cancel", "a private reason")

    published = await _settle(bus_messages, "bookings", 4)
    me, them = client.session.user_id, p.id
    assert [(m["booking_id"], m["booking_seq"], m["event"]["type"]) for m in published] == [
        (a["id"], 1, "booking.created"), (a["id"], 2, "booking.confirmed"),
        (b["id"], 1, "booking.created"), (b["id"], 2, "booking.cancelled"),
    ]
    assert [m["feed"] for m in published] == [{me: i, them: i} for i in (1, 2, 3, 4)]
    first = published[0]["event"]
    assert set(first) == {"type", "booking_id", "booking_seq", "at", "actor", "booking"}
    assert first["actor"] == {"role": "client", "user_id": me}
    assert first["booking"]["status"] == "requested" and first["booking"]["conversation_id"] == a["conversation_id"]
    assert published[3]["event"]["booking"]["cancelled_by_role"] == "client"
    assert "a private reason" not in repr(published)  # reasons are not broadcast

    # The same bodies come back from storage for recovery after a reconnect.
    async with opened(server_env) as db:
        events = await bookings.booking_events_since(db, uuid.UUID(a["id"]), 0, 100)
        assert [e.body for e in events] == [published[0]["event"], published[1]["event"]]
        assert [e.seq for e in await bookings.booking_events_since(db, uuid.UUID(a["id"]), 1, 100)] == [2]
        feed = await bookings.feed_events_since(db, uuid.UUID(me), 1, 2)
        assert [(f.seq, str(f.booking_id), f.booking_seq) for f in feed] == [(2, a["id"], 2), (3, b["id"], 1)]
        assert feed[1].body == published[2]["event"]
        assert await bookings.is_participant(db, uuid.UUID(a["id"]), uuid.UUID(me))
        assert await bookings.is_participant(db, uuid.UUID(a["id"]), uuid.UUID(them))
        assert not await bookings.is_participant(db, uuid.UUID(a["id"]), uuid.uuid4())
        detail = await bookings.get_with_participants(db, uuid.UUID(a["id"]))
        assert detail is not None and detail.booking.mode == "video" and detail.practitioner.id == uuid.UUID(them)
        assert detail.client.display_name == "Test Client"  # sealed with the client's key, opened here


async def test_notifications_are_published_to_their_recipient(start_server, redis_env, clients, bus_messages):
    server = await start_server(**redis_env)
    p = await make_practitioner(clients(server.url), weekly=ALL_DAY, needs_approval=True)
    client = await signed_up(clients(server.url))
    await bus_messages.follow(p.id)
    await bus_messages.follow(client.session.user_id)
    booked = await client.book(p.offering_id, f"{next_weekday_date(2)}T10:00:00Z")
    await p.client.booking_action(booked["id"], "decline", "fully booked that week")

    published = await _settle(bus_messages, "notifications", 2)
    assert [(m["user_id"], m["event"], m["notification"]["kind"]) for m in published] == [
        (p.id, "notification:new", "booking_requested"),
        (client.session.user_id, "notification:new", "booking_declined")]
    listed = (await client.notifications())["items"]
    assert published[1]["notification"] == listed[0]
    assert "fully booked" not in repr(published)
