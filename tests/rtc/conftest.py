"""Fixtures for the SFU core tests: real aiortc peers over loopback.

A ``Harness`` runs one ``SfuRoom`` and several ``SyntheticParticipant``s in
this process, wired by direct calls in place of Socket.IO, and logs what
every publisher sent and every subscriber received so tests can compare.
Every test also checks that no asyncio task or thread outlives it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from klear_client.loopback import loopback_ice
from klear_client.media import encode_opus_loop, encode_vp8_loop
from klear_client.participant import Received, SyntheticParticipant
from rtc.sfu.peer import Message
from rtc.sfu.room import SfuRoom

from ..support.eventually import eventually, holds
from ..support.media import Media


@pytest.fixture(scope="session")
def media() -> Media:
    # 150 frames = 5 s between natural keyframes: long enough that a keyframe
    # seen by a late subscriber can only have come from a PLI.
    return Media(video=encode_vp8_loop(frames=150), audio=encode_opus_loop())


@pytest.fixture(scope="package", autouse=True)
def _loopback_only() -> Iterator[None]:
    with loopback_ice():
        yield


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    """Fail a test that leaves an asyncio task or a thread behind."""
    tasks = set(asyncio.all_tasks())
    threads = set(threading.enumerate())
    yield

    def no_task_left() -> None:
        leaked = {t for t in asyncio.all_tasks() if t not in tasks and not t.done()} - {asyncio.current_task()}
        assert not leaked, f"leaked tasks: {leaked}"

    await eventually(no_task_left, timeout=2.0)
    assert set(threading.enumerate()) <= threads, "leaked threads"


@dataclass
class Harness:
    media: Media
    room: SfuRoom = field(init=False)
    clients: dict[str, SyntheticParticipant] = field(default_factory=dict)
    received: dict[tuple[str, str], list[Received]] = field(default_factory=dict)
    sent: dict[str, list[int]] = field(default_factory=dict)
    offers: dict[str, list[Message]] = field(default_factory=dict)
    # offers to these peers are parked in ``held`` instead of delivered,
    # like a client that is slow to answer
    hold_offers_to: set[str] = field(default_factory=set)
    held: list[tuple[str, Message]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.room = SfuRoom(self._signal, pli_interval=0.5)

    async def _signal(self, peer_id: str, message: Message) -> None:
        if peer_id in self.hold_offers_to:
            self.held.append((peer_id, message))
            return
        await self.deliver(peer_id, message)

    async def deliver(self, peer_id: str, message: Message) -> None:
        self.offers.setdefault(peer_id, []).append(message)
        await self.clients[peer_id].handle_signal(message)

    def _client(self, peer_id: str) -> SyntheticParticipant:
        async def send(message: Message) -> None:
            await self.room.handle_signal(peer_id, message)

        def on_frame(received: Received) -> None:
            self.received.setdefault((peer_id, received.publication), []).append(
                received
            )

        def on_sent(publication: str, index: int, when: float) -> None:
            self.sent.setdefault(publication, []).append(index)

        client = SyntheticParticipant(
            peer_id, send, self.media.sources, on_frame, on_sent
        )
        self.clients[peer_id] = client
        return client

    async def join(self, peer_id: str, *publish: tuple[str, str]) -> list[str]:
        self._client(peer_id)
        return await self.room.add_participant(peer_id, list(publish))

    def frames(self, subscriber: str, publication: str) -> list[Received]:
        return self.received.get((subscriber, publication), [])

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float = 10.0
    ) -> None:
        await eventually(lambda: holds(condition()), timeout=timeout)

    async def close(self) -> None:
        await self.room.close()
        for client in self.clients.values():
            await client.close()


@pytest.fixture
async def harness(media: Media) -> AsyncIterator[Harness]:
    h = Harness(media)
    yield h
    await h.close()
