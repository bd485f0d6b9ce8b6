"""A class through the real server: three clients book one class over the API and meet their practitioner
in one session, each booking starting when its client arrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from klear_client import ApiError

from ..conftest import signed_up
from ..support.eventually import eventually
from .conftest import iso, practitioner_with_offering


async def test_a_class_of_three_booked_over_the_api_meets_in_one_session(start_server, clients, calls) -> None:
    server = await start_server()
    teacher = clients(server.url)
    pid, offering_id = await practitioner_with_offering(teacher, capacity=3)
    students = [await signed_up(clients(server.url), "client", "America/New_York", name=f"Student {i}") for i in range(4)]
    now = datetime.now(UTC)
    found = await students[0].slots(pid, offering_id, iso(now), iso(now + timedelta(hours=2)), "UTC")
    start = found["slots"][0]["start"]
    booked = [await s.book(offering_id, start) for s in students[:3]]
    with pytest.raises(ApiError) as refused:
        await students[3].book(offering_id, start)
    assert refused.value.details == [{"reason": "class_full"}]

    host = await calls(teacher)
    joined = await host.join(booked[0]["id"], publish=["camera", "microphone"])
    assert joined["participants"] == []
    room = [await calls(s) for s in students[:3]]
    for call, booking in zip(room, booked, strict=True):
        ack = await call.join(booking["id"], publish=["camera"])
        assert ack["session_id"] == joined["session_id"]  # one room for the class, joined through each booking
    ids = [s.session.user_id for s in students[:3]]
    for call, me in zip(room, ids, strict=True):
        await call.wait_for(lambda call=call: call.frames_from(pid, "video") >= 20)
        await call.wait_for(lambda call=call, me=me: all(call.frames_from(o, "video") >= 5 for o in ids if o != me))
    await host.wait_for(lambda: all(host.frames_from(o, "video") >= 20 for o in ids))

    async def all_started() -> None:
        statuses = [(await s.booking(b["id"]))["status"] for s, b in zip(students, booked, strict=False)]
        assert statuses == ["in_session"] * 3, statuses

    await eventually(all_started, timeout=15)
