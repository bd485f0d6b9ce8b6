"""Fixtures for real-time tests: signed-in pairs and their Socket.IO connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from klear_client import KlearClient, Realtime

from ..conftest import signed_up


@pytest.fixture
async def realtime() -> AsyncIterator[Callable[..., Awaitable[Realtime]]]:
    """Connect SDK real-time clients; all are closed at the end of the test."""
    made: list[Realtime] = []

    async def connect(client: KlearClient, **kwargs: object) -> Realtime:
        rt = Realtime(client, **kwargs)  # type: ignore[arg-type]
        made.append(rt)
        await rt.connect()
        return rt

    yield connect
    for rt in made:
        await rt.close()


async def pair(clients, url: str, url_b: str | None = None, *, e2ee: bool = False) -> tuple[KlearClient, KlearClient, str]:
    """A client and a practitioner (each on its own server URL) with a direct conversation the client asked
    for and the practitioner accepted."""
    client = await signed_up(clients(url), "client")
    practitioner = await signed_up(clients(url_b or url), "practitioner")
    conv = await client.request_conversation(practitioner.session.user_id, e2ee=e2ee)
    await practitioner.accept_conversation(conv["id"])
    return client, practitioner, conv["id"]


async def joined_pair(clients, realtime, url: str, url_b: str | None = None):  # type: ignore[no-untyped-def]
    """`pair`, with both connected over Socket.IO (each to its own URL) and joined to the conversation."""
    alice, bob, cid = await pair(clients, url, url_b)
    ra, rb = await realtime(alice), await realtime(bob)
    await ra.join(cid)
    await rb.join(cid)
    return alice, bob, cid, ra, rb
