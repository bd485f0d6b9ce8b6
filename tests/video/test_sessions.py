"""Sessions tied to bookings, through a real server: who may join, when, and what reaches whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from klear_client import EventRefused
from klear_client.video import VideoCall

from ..conftest import PASSWORD, signed_up
from ..support.eventually import eventually
from .conftest import Media, book_video, next_event

FAST_JOBS = {"KLEAR_JOB_POLL_INTERVAL": "0.1", "KLEAR_JOB_LEASE": "2"}


def in_order(indexes: list[int], length: int) -> bool:
    """Loop indexes advance by one, except a restart at 0 (a wrap, or a keyframe the SFU asked for)."""
    return all(b == (a + 1) % length or b == 0 for a, b in zip(indexes, indexes[1:], strict=False))


async def test_two_participants_exchange_byte_identical_audio_and_video_and_start_the_booking(
    start_server, clients, calls, media: Media
) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner: VideoCall = await calls(booked.practitioner)
    client: VideoCall = await calls(booked.client)

    joined = await practitioner.join(booked.id, publish=["camera", "microphone"])
    assert joined["participants"] == [] and joined["ice_servers"] == []
    assert joined["you"]["role"] == "practitioner"
    assert await client.join(booked.id, publish=["camera", "microphone"])
    pid, cid = booked.practitioner.session.user_id, booked.client.session.user_id
    assert (await next_event(practitioner.realtime, "rtc:participant_joined"))["participant"]["user_id"] == cid

    for me, other in ((client, pid), (practitioner, cid)):
        await me.wait_for(lambda me=me, other=other: me.frames_from(other, "video") >= 45
                          and me.frames_from(other, "audio") >= 60)
    for me, sender in ((client, practitioner), (practitioner, client)):
        for publication, frames in me.received.items():
            loop = media.video if me.subscriptions[publication]["kind"] == "video" else media.audio
            indexes = [loop.index_of(f.frame.data) for f in frames]
            assert None not in indexes, "a frame arrived that the publisher never sent"
            sent = sender.sent[publication]
            assert set(indexes) <= set(sent)
            assert in_order(indexes, len(loop.frames)), indexes[:40]  # type: ignore[arg-type]

    async def started() -> None:
        assert (await booked.client.booking(booked.id))["status"] == "in_session"

    await eventually(started, timeout=15)
    history = (await booked.client.booking_events(booked.id))["events"]
    assert history[-1]["kind"] == "started" and history[-1]["to_status"] == "in_session"


async def test_only_the_two_participants_may_join(start_server, clients, calls) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    stranger = await calls(await signed_up(clients(server.url), "client"))
    other_practitioner = await calls(await signed_up(clients(server.url), "practitioner"))
    for outsider in (stranger, other_practitioner):
        with pytest.raises(EventRefused) as refused:
            await outsider.join(booked.id)
        assert refused.value.code == "not_found"
    with pytest.raises(EventRefused) as refused:
        await stranger.join("00000000-0000-0000-0000-000000000000")
    assert refused.value.code == "not_found"


async def test_joining_outside_the_window_is_refused(start_server, clients, calls) -> None:
    server = await start_server()
    early = await book_video(clients(server.url), clients(server.url), starts_after=timedelta(minutes=40))
    call = await calls(early.client)
    with pytest.raises(EventRefused) as refused:
        await call.join(early.id)
    assert refused.value.code == "too_early"
    assert refused.value.error["opens_at"] < early.booking["start_at"]

    # The same booking seen three hours later, still confirmed (this process runs no jobs, so no finish job has
    # made it a no-show, which would be not_joinable): its session closed 15 minutes after its end.
    later = await start_server(KLEAR_CLOCK_SHIFT=str(3 * 3600), KLEAR_JOB_CONCURRENCY="0")
    same_client = clients(later.url)
    await same_client.login(early.client.session.user["email"], PASSWORD)
    late_call = await calls(same_client)
    with pytest.raises(EventRefused) as refused:
        await late_call.join(early.id)
    assert refused.value.code == "too_late"


async def test_leaving_and_rejoining(start_server, clients, calls, media: Media) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner = await calls(booked.practitioner)
    client = await calls(booked.client)
    pid, cid = booked.practitioner.session.user_id, booked.client.session.user_id
    await practitioner.join(booked.id, publish=["camera"])
    await client.join(booked.id, publish=["camera"])
    await client.wait_for(lambda: client.frames_from(pid) >= 10)

    await client.leave()
    left = await next_event(practitioner.realtime, "rtc:participant_left", user_id=cid)
    assert left["reason"] == "left"

    rejoined = await client.join(booked.id, publish=["camera"])
    assert [p["user_id"] for p in rejoined["participants"]] == [pid]
    before = client.frames_from(pid)
    await client.wait_for(lambda: client.frames_from(pid) >= before + 10)
    await practitioner.wait_for(lambda: practitioner.frames_from(cid) >= 10)
    assert (await booked.client.booking(booked.id))["status"] == "in_session"


async def test_two_people_who_first_meet_after_the_end_still_start_the_booking_and_it_completes(
    start_server, clients, calls
) -> None:
    front = await start_server(KLEAR_JOB_CONCURRENCY="0")
    booked = await book_video(clients(front.url), clients(front.url))
    end = datetime.fromisoformat(booked.booking["end_at"].replace("Z", "+00:00"))
    # Twelve minutes after the end: the session is still open (until 15 minutes after), and this process runs
    # jobs, so a finish job due before the window closes would have made the booking a no-show by now.
    shift = (end + timedelta(minutes=12) - datetime.now(UTC)).total_seconds()
    late = await start_server(KLEAR_CLOCK_SHIFT=str(shift), **FAST_JOBS)
    people = []
    for signed_in in (booked.practitioner, booked.client):
        there = clients(late.url)
        there.session = signed_in.session
        people.append(await calls(there))
    for person in people:
        await person.join(booked.id, publish=["camera"])

    async def status_is(wanted: str) -> None:
        assert (await booked.client.booking(booked.id))["status"] == wanted

    await eventually(lambda: status_is("in_session"), timeout=15)
    # When the window closes the finish job completes it.
    await start_server(KLEAR_CLOCK_SHIFT=str(shift + 4 * 60), **FAST_JOBS)
    await eventually(lambda: status_is("completed"), timeout=20)
    history = (await booked.client.booking_events(booked.id))["events"]
    assert [(e["kind"], e["actor_role"]) for e in history] == [
        ("created", "client"), ("started", "client"), ("completed", "system")]


async def test_a_server_listening_beyond_loopback_checks_no_loopback_candidate_yet_media_flows(
    start_server, clients, calls
) -> None:
    """KLEAR_HOST reaches the candidate filter: on 0.0.0.0 the clients' loopback candidates (in their answers and
    trickled) are dropped, and the connections still come up through the clients' own checks."""
    server = await start_server(KLEAR_HOST="0.0.0.0")
    booked = await book_video(clients(server.url), clients(server.url))
    practitioner, client = await calls(booked.practitioner), await calls(booked.client)
    joined = await practitioner.join(booked.id, publish=["camera"])
    await client.join(booked.id, publish=["camera"])
    for host in ("127.0.0.1", "169.254.169.254"):
        ack = await practitioner.realtime.call("rtc:candidate", {
            "session_id": joined["session_id"], "candidate": f"candidate:1 1 udp 2130706431 {host} 9 typ host",
            "sdpMid": "0", "sdpMLineIndex": 0})
        assert ack["accepted"] is False, host
    pid, cid = booked.practitioner.session.user_id, booked.client.session.user_id
    await client.wait_for(lambda: client.frames_from(pid, "video") >= 10)
    await practitioner.wait_for(lambda: practitioner.frames_from(cid, "video") >= 10)
    assert "rtc_candidates_dropped" in server.log_text() and "127.0.0.1 9" not in server.log_text()
