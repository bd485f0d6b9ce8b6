"""A video session between two people in the web app (tests/browser/call.mjs): the lobby opens the room
when the window opens and says who is there, both decode each other's video, and when the client's
connection drops for 10 s the call recovers without anyone clicking, the practitioner being told the client
is reconnecting rather than gone. The booking is made over the SDK; everything else is the UI.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from klear_client.loopback import loopback_ice

from ..conftest import PASSWORD
from ..video.conftest import book_video
from .test_web_journey import by_event, run_driver


@pytest.fixture(scope="module", autouse=True)
def _loopback_only() -> Iterator[None]:
    with loopback_ice():
        yield


async def test_two_people_meet_in_the_web_app_and_a_dropped_connection_rejoins_by_itself(start_server, clients) -> None:
    server = await start_server()
    booked = await book_video(clients(server.url), clients(server.url))
    emails = [c.session.user["email"] for c in (booked.practitioner, booked.client)]  # type: ignore[union-attr]
    lines = by_event(await run_driver("call.mjs", server.url, *emails, PASSWORD))

    in_call = lines["in_call"]
    assert "Nobody else is here yet" in in_call["lobby"], in_call
    assert in_call["waiting"] == "Waiting for the other person…"
    assert in_call["controls_bottom"] <= 844, "the call controls are in view on a phone"
    finished = lines["finished"]
    assert finished["fresh_connection"], "the client rejoined on a new connection"
    assert any("Cleo Client lost their connection; reconnecting" in s for s in finished["practitioner_saw"]), finished
    assert not any("Cleo Client left" in s for s in finished["practitioner_saw"])
    assert any(s == "Reconnecting…" for s in finished["client_saw"])
    assert [s for s in finished["screens"] if s["violations"]] == []
    assert finished["outside"] == [] and finished["console_errors"] == []
