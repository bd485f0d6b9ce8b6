"""Group sessions (a class: several bookings of one offering at one start share a room), driven in this
process: the real ``Host``, ``VideoSession`` and SFU with real aiortc participants, wired by direct calls
where the server would use Socket.IO, with the bookings built as the storage query would return them. A class
booked over the API and joined through the real server is in test_class.py.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from klear_client.participant import Received, SyntheticParticipant
from rtc.sessions import ice
from rtc.sessions.hosting import Host
from rtc.sessions.ownership import MemoryOwnership
from rtc.sessions.plan import Plan, plan_of
from rtc.sessions.session import Limits, Member
from rtc.sfu.candidates import CandidateFilter
from storage.video import SessionBooking

from ..support.eventually import eventually, holds
from .conftest import Media

START = datetime(2030, 5, 6, 18, 0, tzinfo=UTC)
PRACTITIONER = uuid.uuid4()


def booking(client: uuid.UUID, status: str = "confirmed") -> SessionBooking:
    return SessionBooking(uuid.uuid4(), uuid.UUID(int=7), PRACTITIONER, client, status, "video", START,
                          START + timedelta(minutes=60), "Teacher", f"Student {str(client)[:4]}")


@dataclass
class Class:
    """A host with a class of three clients, and the people in it as synthetic participants."""

    media: Media
    max_participants: int = 4
    now: datetime = START
    clients: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(3)])
    started: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    events: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))
    frames: dict[uuid.UUID, list[Received]] = field(default_factory=lambda: defaultdict(list))
    people: dict[uuid.UUID, SyntheticParticipant] = field(default_factory=dict)
    inboxes: dict[uuid.UUID, asyncio.Queue[dict[str, Any]]] = field(default_factory=dict)
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    candidates: CandidateFilter = CandidateFilter(allow_loopback=True)  # as a server listening on loopback only

    def __post_init__(self) -> None:
        self.bookings = [booking(c) for c in self.clients]
        self.host = Host(
            process_id="here", ownership=MemoryOwnership("here"), load_plan=self._load_plan, deliver=self._deliver,
            start_booking=self._start_booking, configuration=ice.configuration_factory(()),
            limits=Limits(self.max_participants, ice_timeout=10.0), candidates=self.candidates, now=lambda: self.now,
        )

    @property
    def plan(self) -> Plan:
        found = plan_of(self.bookings)
        assert found is not None
        return found

    async def _load_plan(self, booking_id: uuid.UUID) -> Plan | None:
        return plan_of(self.bookings)

    async def _start_booking(self, booking_id: uuid.UUID, actor: uuid.UUID) -> None:
        self.started.append((booking_id, actor))

    async def _deliver(self, member: Member, event: str, data: dict[str, Any]) -> None:
        # Offers are answered by a worker, as a client would in its own time: the host never waits for one.
        uid = member.person.user_id
        self.events[uid].append((event, data))
        if event == "rtc:offer":
            self.inboxes[uid].put_nowait(data)

    async def join(self, user: uuid.UUID, *publish: str) -> dict[str, Any]:
        booking_id = next(b.id for b in self.bookings if user in (b.client_id, b.practitioner_id))

        async def send(message: dict[str, Any]) -> None:
            ack = await self.host.handle("signal", {**self._args(user), "message": message})
            assert ack["ok"], ack

        def on_frame(received: Received) -> None:
            self.frames[user].append(received)

        if user in self.people:  # joining again: a fresh connection, as a client would make
            await self.people[user].close()
        self.people[user] = SyntheticParticipant(str(user), send, self.media.sources, on_frame)
        self.inboxes[user] = asyncio.Queue()
        self.workers.append(asyncio.create_task(self._answer(user)))
        return await self.host.handle("join", {**self._args(user), "booking_id": str(booking_id), "edge": "here",
                                               "publish": list(publish)})

    async def _answer(self, user: uuid.UUID) -> None:
        while True:
            offer = await self.inboxes[user].get()
            await self.people[user].handle_signal(offer)

    def _args(self, user: uuid.UUID) -> dict[str, Any]:
        return {"session_id": str(self.plan.session_id), "user_id": str(user), "sid": f"sid-{user}"}

    def publishers_seen_by(self, user: uuid.UUID) -> set[str]:
        return {r.publisher for r in self.frames[user]}

    def reasons(self, user: uuid.UUID, event: str = "rtc:ended") -> list[str]:
        return [d["reason"] for e, d in self.events[user] if e == event]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        await eventually(lambda: holds(condition()), timeout=timeout)

    async def close(self) -> None:
        await self.host.stop("server_shutdown")
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        for person in self.people.values():
            await person.close()


@pytest.fixture
async def make_class(media: Media) -> AsyncIterator[Callable[..., Class]]:
    made: list[Class] = []

    def make(**options: Any) -> Class:
        made.append(Class(media, **options))
        return made[-1]

    yield make
    for c in made:
        await c.close()


async def test_a_class_meets_in_one_room_and_each_booking_starts_when_its_two_people_are_in(make_class) -> None:
    cls = make_class()
    a, b, c = cls.clients
    assert (await cls.join(a, "camera"))["ok"]
    assert cls.started == [], "a booking starts only when both of its people are in"
    joined = await cls.join(PRACTITIONER, "camera", "microphone")
    assert joined["ok"] and [p["user_id"] for p in joined["participants"]] == [str(a)]
    assert await cls.join(b, "camera")
    everyone = {str(PRACTITIONER), str(a), str(b)}
    for user in (PRACTITIONER, a, b):
        await cls.wait_for(lambda user=user: cls.publishers_seen_by(user) == everyone - {str(user)})
    assert cls.started == [(cls.bookings[0].id, PRACTITIONER), (cls.bookings[1].id, b)]
    assert c not in {u for u, _ in cls.started}


async def test_a_full_class_refuses_one_more(make_class) -> None:
    cls = make_class(max_participants=3)
    for user in (PRACTITIONER, *cls.clients[:2]):
        assert (await cls.join(user))["ok"]
    refused = await cls.join(cls.clients[2])
    assert refused["error"]["code"] == "session_full"
    assert (await cls.host.handle("leave", {**cls._args(cls.clients[0]), "reason": "left"}))["ok"]
    assert (await cls.join(cls.clients[2]))["ok"], "a place freed up"


async def test_a_cancelled_place_leaves_and_the_window_end_closes_the_class(make_class) -> None:
    cls = make_class()
    a, b, _ = cls.clients
    for user in (PRACTITIONER, a, b):
        assert (await cls.join(user, "camera"))["ok"]
    cls.bookings[0] = replace(cls.bookings[0], status="cancelled")
    await cls.host.booking_changed(cls.bookings[0].id, cls.plan.session_id, "cancelled")
    assert cls.reasons(a) == ["booking_cancelled"]
    assert cls.reasons(PRACTITIONER, "rtc:participant_left") == ["booking_cancelled"]
    assert cls.reasons(b) == []

    # The window: a class whose end (plus 15 minutes) is one second away ends by itself.
    cls.now = cls.plan.closes_at - timedelta(seconds=1)
    await cls.host.handle("leave", {**cls._args(b), "reason": "left"})
    await cls.host.handle("leave", {**cls._args(PRACTITIONER), "reason": "left"})
    assert (await cls.join(b, "camera"))["ok"]  # a fresh session, timed from the new "now"
    await cls.wait_for(lambda: "window_closed" in cls.reasons(b), timeout=5)
    assert cls.host.sessions == {}


async def test_stopping_the_host_closes_every_connection_and_leaves_nothing_running(make_class) -> None:
    tasks_before = set(asyncio.all_tasks())
    threads_before = threading.active_count()
    cls = make_class()
    for user in (PRACTITIONER, *cls.clients):
        assert (await cls.join(user, "camera", "microphone"))["ok"]
    await cls.wait_for(lambda: all(len(cls.publishers_seen_by(u)) == 3 for u in cls.people))
    await cls.close()
    for user in cls.people:
        assert cls.reasons(user) == ["server_shutdown"]
    assert all(p.connection_state == "closed" for p in cls.people.values())
    def nothing_left_running() -> None:
        leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()} - {asyncio.current_task()}
        assert not leftover, leftover

    await eventually(nothing_left_running, timeout=5)
    assert threading.active_count() <= threads_before


async def test_a_connection_cannot_grow_without_bound(make_class) -> None:
    cls = make_class()
    assert (await cls.join(PRACTITIONER, "camera", "microphone"))["ok"]
    args = cls._args(PRACTITIONER)
    for n in range(14):  # the join's two publications count too
        published = await cls.host.handle("publish", {**args, "source": "screen"})
        assert published["ok"], (n, published)
        assert (await cls.host.handle("unpublish", {**args, "publication_id": published["publication"]["id"]}))["ok"]
    refused = await cls.host.handle("publish", {**args, "source": "screen"})
    assert refused["error"]["code"] == "too_many_publications"

    def candidate(port: int) -> dict[str, Any]:
        return {"type": "candidate", "candidate": f"candidate:{port} 1 udp 2130706431 127.0.0.1 {port} typ host",
                "sdpMid": "0", "sdpMLineIndex": 0}

    for port in range(20000, 20064):
        assert (await cls.host.handle("signal", {**args, "message": candidate(port)}))["ok"]
    refused = await cls.host.handle("signal", {**args, "message": candidate(20064)})
    assert refused["error"]["code"] == "too_many_candidates"
    assert (await cls.join(PRACTITIONER, "camera"))["ok"], "joining again starts a fresh connection"
    assert (await cls.host.handle("signal", {**args, "message": candidate(20065)}))["ok"]


async def test_candidates_outside_the_allowed_networks_are_acked_as_not_accepted(make_class) -> None:
    """The ack says which candidates the server will not check: by default loopback, link-local and metadata
    addresses; loopback is allowed when the server itself listens on loopback only."""
    public, on_loopback = make_class(candidates=CandidateFilter()), make_class()
    for cls, expected in ((public, {"169.254.169.254": False, "127.0.0.1": False, "fe80::1": False}),
                          (on_loopback, {"169.254.169.254": False, "127.0.0.1": True})):
        assert (await cls.join(PRACTITIONER, "camera"))["ok"]
        for host, accepted in expected.items():
            message = {"type": "candidate", "candidate": f"candidate:1 1 udp 2130706431 {host} 9 typ host",
                       "sdpMid": "0", "sdpMLineIndex": 0}
            ack = await cls.host.handle("signal", {**cls._args(PRACTITIONER), "message": message})
            assert ack == {"ok": True, "accepted": accepted}, host
