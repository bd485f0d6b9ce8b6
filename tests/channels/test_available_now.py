"""The "available now" marker: only for practitioners who chose to show it, true while they are online, accept
bookings and are in no session, the same in profiles, search and live to the sockets watching a result list."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from klear_client import EventRefused, Realtime

from ..conftest import signed_up
from ..discovery.conftest import Listed, listed
from ..scheduler.conftest import ALL_DAY


async def _shown(c, p: Listed) -> tuple[bool, bool]:
    """The marker as the public profile and a search show it."""
    profile = await c.public_profile(p.id)
    hit = next(h for h in (await c.search(limit=50))["items"] if h["id"] == p.id)
    return profile["available_now"], hit["available_now"]


async def _change(rt: Realtime, p: Listed) -> bool:
    """The next `available:changed` about `p`; one about anybody else fails the test."""
    event = await rt.next_event("available:changed")
    assert event["practitioner_id"] == p.id, event
    return bool(event["available_now"])


def _no_change_yet(rt: Realtime) -> None:
    """No `available:changed` event has arrived so far (other events are dropped)."""
    seen = []
    while not rt.events.empty():
        name, data = rt.events.get_nowait()
        if name == "available:changed":
            seen.append(data)
    assert seen == []


@pytest.mark.quick
async def test_a_practitioner_who_did_not_choose_it_is_never_available_and_their_presence_is_not_revealed(
    app, clients, realtime
):
    hidden = await listed(clients(app.url), "Quiet Quinn", modalities=["reiki"])
    shown = await listed(clients(app.url), "Open Olu", modalities=["reiki"], show_available_now=True)
    c = await signed_up(clients(app.url))
    watcher = await realtime(c)
    assert await watcher.watch_available([hidden.id]) == {hidden.id: False}
    online = await realtime(hidden.client)
    assert await _shown(c, hidden) == (False, False)
    await online.set_presence("away")
    await online.set_presence("online")
    await online.close()
    await watcher.watch_available([hidden.id, shown.id])
    await realtime(shown.client)  # an event that comes after whatever the hidden one's changes could have caused
    assert await _change(watcher, shown) is True
    _no_change_yet(watcher)


@pytest.mark.quick
async def test_an_online_practitioner_who_chose_it_is_available_until_away_gone_or_not_bookable(app, clients, realtime):
    p = await listed(clients(app.url), "Avid Ava", modalities=["yoga"], show_available_now=True)
    c = await signed_up(clients(app.url))
    watcher = await realtime(c)
    assert await watcher.watch_available([p.id]) == {p.id: False}  # offline
    assert await _shown(c, p) == (False, False)
    phone = await realtime(p.client)
    assert await _change(watcher, p) is True
    assert await _shown(c, p) == (True, True)
    await phone.set_presence("away")
    assert await _change(watcher, p) is False
    assert await _shown(c, p) == (False, False)
    await phone.set_presence("online")
    assert await _change(watcher, p) is True
    await p.client.update_offering(p.id, p.offering_id, active=False)  # accepts no bookings
    assert await _change(watcher, p) is False
    await p.client.update_offering(p.id, p.offering_id, active=True)
    assert await _change(watcher, p) is True
    await phone.close()
    assert await _change(watcher, p) is False
    assert watcher.available == {p.id: False}


@pytest.mark.quick
async def test_a_session_makes_the_practitioner_unavailable_from_its_start_to_its_end(app, clients, realtime):
    p = await listed(clients(app.url), "Busy Bo", modalities=["massage"], weekly=ALL_DAY, show_available_now=True)
    c = await signed_up(clients(app.url))
    await realtime(p.client)
    watcher = await realtime(c)
    now = app.clock.now()
    fmt = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    slot = (await c.slots(p.id, p.offering_id, fmt(now + timedelta(hours=2)), fmt(now + timedelta(days=2)), "UTC"))["slots"][0]
    booked = await c.book(p.offering_id, slot["start"])
    assert booked["status"] == "confirmed"
    assert await watcher.watch_available([p.id]) == {p.id: True}  # booked, but not in session yet
    start = datetime.fromisoformat(slot["start"].replace("Z", "+00:00"))
    await app.clock.set(start + timedelta(minutes=1))  # the timeline's step at the start runs
    assert await _change(watcher, p) is False
    assert await _shown(c, p) == (False, False)
    end = datetime.fromisoformat(booked["end_at"].replace("Z", "+00:00"))
    await app.clock.set(end + timedelta(minutes=1))  # ... and at its end
    assert await _change(watcher, p) is True
    assert await _shown(c, p) == (True, True)


@pytest.mark.quick
async def test_a_session_completed_before_its_end_makes_the_practitioner_available_at_once(app, clients, realtime):
    p = await listed(clients(app.url), "Now Nia", modalities=["massage"], weekly=ALL_DAY, show_available_now=True)
    c = await signed_up(clients(app.url))
    await realtime(p.client)
    watcher = await realtime(c)
    now = app.clock.now()
    fmt = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    slot = (await c.slots(p.id, p.offering_id, fmt(now), fmt(now + timedelta(days=2)), "UTC"))["slots"][0]
    booked = await c.book(p.offering_id, slot["start"])
    assert await watcher.watch_available([p.id]) == {p.id: True}
    await app.clock.set(datetime.fromisoformat(slot["start"].replace("Z", "+00:00")) + timedelta(seconds=30))
    assert await _change(watcher, p) is False
    await p.client.booking_action(booked["id"], "complete")  # over before its end: the booking change tells
    assert await _change(watcher, p) is True


@pytest.mark.quick
async def test_a_watcher_hears_only_of_the_practitioners_it_watches_now(app, clients, realtime):
    first = await listed(clients(app.url), "First Fay", modalities=["yoga"], show_available_now=True)
    second = await listed(clients(app.url), "Second Sol", modalities=["yoga"], show_available_now=True)
    c = await signed_up(clients(app.url))
    watcher = await realtime(c)
    await watcher.watch_available([first.id])
    assert await watcher.watch_available([second.id]) == {second.id: False}  # replaces the first watch
    await realtime(first.client)
    await realtime(second.client)
    assert await _change(watcher, second) is True  # and nothing about the first before it
    _no_change_yet(watcher)
    assert await watcher.watch_available([]) == {}


@pytest.mark.quick
@pytest.mark.parametrize("payload, code", [
    ({"practitioner_ids": ["not-a-uuid"]}, "invalid_payload"),
    ({"practitioner_ids": "3f2b"}, "invalid_payload"),
    ({}, "invalid_payload"),
    ({"practitioner_ids": [], "also": 1}, "invalid_payload"),
    ({"practitioner_ids": [f"00000000-0000-0000-0000-{i:012d}" for i in range(101)]}, "payload_too_large"),
])
async def test_bad_watch_input_gets_a_clear_error(app, clients, realtime, payload, code):
    watcher = await realtime(await signed_up(clients(app.url)))
    with pytest.raises(EventRefused) as refused:
        await watcher.call("available:watch", payload)
    assert refused.value.code == code
    assert refused.value.error["message"].startswith("Too large: practitioner_ids (at most 100)" if code == "payload_too_large"
                                                     else "Invalid or missing:")


async def test_a_watcher_on_one_process_sees_what_the_practitioner_does_on_another(
    start_server, redis_env, clients, realtime
):
    a = await start_server(**redis_env)
    b = await start_server(**redis_env)
    p = await listed(clients(b.url), "Remote Rui", modalities=["qigong"], show_available_now=True)
    c = await signed_up(clients(a.url))
    watcher = await realtime(c)  # on process a
    assert await watcher.watch_available([p.id]) == {p.id: False}
    phone = await realtime(p.client)  # on process b
    assert await _change(watcher, p) is True
    await phone.set_presence("away")
    assert await _change(watcher, p) is False
    await phone.set_presence("online")
    assert await _change(watcher, p) is True
    await p.client.save_practitioner_profile(  # the choice taken back, over REST on process b
        p.id, bio="", modalities=["qigong"], languages=["en"], time_zone="Europe/London", show_available_now=False,
    )
    assert await _change(watcher, p) is False
    assert (await c.public_profile(p.id))["available_now"] is False
