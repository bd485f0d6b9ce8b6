"""A client in headless Chromium (clients/web, served by the server) signs in, books a slot through the
calendar and the review step, chats with a practitioner on the Python SDK (in their one conversation), and meets them on video through the SFU: each side receives the other's
video, checked in the browser through getStats and in Python frame by frame, and the page's booking list
turns to "in session" by itself. The browser is refused every
request outside the server's origin, and must not have made any.

Needs Debian's `chromium` at /usr/bin/chromium and `node` with tests/js installed (`./klear test` installs
it). Outside CI a missing browser skips the test; with CI=true it fails.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from klear_client import Realtime
from klear_client.loopback import loopback_ice
from klear_client.video import VideoCall

from ..conftest import PASSWORD, signed_up
from ..support.tools import require
from ..video.conftest import Media, practitioner_with_offering

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "web_client.mjs"
PLAYWRIGHT = HERE.parent / "js" / "node_modules" / "playwright-core"
CHROMIUM = Path("/usr/bin/chromium")
ZONE = "Asia/Tokyo"


@pytest.fixture(scope="module", autouse=True)
def _loopback_only() -> Iterator[None]:
    with loopback_ice():
        yield


def _require_browser() -> None:
    missing = [what for what, ok in (("chromium at /usr/bin/chromium", CHROMIUM.exists()),
                                     ("node", shutil.which("node") is not None),
                                     ("tests/js/node_modules/playwright-core", PLAYWRIGHT.exists())) if not ok]
    require(missing, "the browser test")


class Browser:
    """The node driver, read one JSON line at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    async def expect(self, event: str, timeout: float = 40.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not raw:
                raise AssertionError(f"the browser driver exited before {event!r}: {self.lines[-1:]}")
            line = json.loads(raw)
            self.lines.append(line)
            if line["event"] == "error":
                raise AssertionError(f"browser: {line['message']}\nstatus: {line.get('status')}\nconsole: {line['console_errors']}")
            if line["event"] == event:
                return line

    async def tell(self, **command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    _require_browser()
    started: list[Browser] = []

    async def start(*args: str) -> Browser:
        proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), *args, str(tmp_path / "chromium-profile"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 22,
        )
        started.append(Browser(proc))
        return started[-1]

    yield start
    for b in started:
        if b.proc.returncode is None:
            b.proc.kill()
        await b.proc.wait()


def vp8_size(frame: bytes) -> tuple[int, int]:
    """Width and height from a VP8 keyframe header (RFC 6386 9.1)."""
    assert frame[3:6] == b"\x9d\x01\x2a", "not a keyframe"
    return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF


async def test_a_client_in_chromium_books_chats_and_meets_a_python_practitioner_on_video(
    start_server, clients, browser, media: Media
) -> None:
    server = await start_server()
    practitioner = clients(server.url)
    await practitioner_with_offering(practitioner)
    client = await signed_up(clients(server.url), "client", ZONE, name="Bea Browser")
    cid = client.session.user_id  # type: ignore[union-attr]
    realtime = Realtime(practitioner, reconnect=False)
    await realtime.connect()
    call = VideoCall(realtime, media.sources)
    try:
        page = await browser(server.url, client.session.user["email"], PASSWORD, "Video yoga", ZONE)  # type: ignore[union-attr]
        assert (await page.expect("signed_in"))["zone"] == ZONE

        booked = await page.expect("booked")
        local = datetime.fromisoformat(booked["start"].replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))
        assert local.strftime("%-I:%M %p") in booked["card"], booked  # shown in the viewer's local time
        booking = await practitioner.booking(booked["booking_id"])
        assert booking["status"] == "confirmed" and booking["client"]["id"] == cid

        conversation = (await practitioner.request_conversation(cid))["id"]  # one thread per pair of people
        await realtime.join(conversation)
        await page.expect("sent")
        while not [m for m in realtime.received[conversation] if m["body"] == "Hello from the browser"]:
            await realtime.next_event("message:new", timeout=10)
        await realtime.read(conversation, realtime.last_seq[conversation])
        await realtime.typing(conversation, "start")
        await asyncio.sleep(0.5)
        await realtime.send(conversation, "Hello back")
        assert "Pat Practitioner is typing" in (await page.expect("chatted"))["typing"]

        await call.join(booked["booking_id"], publish=["camera", "microphone"])
        seen = await page.expect("video")
        inbound = [t for t in seen["stats"]["inbound"] if t["kind"] == "video"]
        assert inbound and inbound[0]["framesDecoded"] >= 30
        assert (inbound[0]["frameWidth"], inbound[0]["frameHeight"]) == (320, 240), inbound  # our synthetic camera
        assert "Pat Practitioner" in seen["people"]
        assert "in session" in seen["card"], "the booking list follows live booking updates"
        await call.wait_for(lambda: call.frames_from(cid, "video") >= 30 and call.frames_from(cid, "audio") >= 30)
        keyframes = [r.frame.data for publication, frames in call.received.items() for r in frames
                     if call.subscriptions[publication] == {"kind": "video", "source": "camera", "publisher": cid}
                     and r.frame.keyframe]
        assert vp8_size(keyframes[0]) == (640, 480), "Chromium's fake camera, as the browser asked for it"

        await page.expect("screen_on")
        screens = [p for p, s in call.subscriptions.items() if s["publisher"] == cid and s["source"] == "screen"]
        assert screens, "the screen share reached the practitioner's offer"
        await call.wait_for(lambda: len(call.received[screens[0]]) >= 5)
        await page.expect("screen_off")

        await page.tell(cmd="done")
        finished = await page.expect("finished")
        assert finished["outside"] == [], "the browser asked for something outside our server"
        assert finished["console_errors"] == []
        assert await page.proc.wait() == 0
        assert (await practitioner.booking(booked["booking_id"]))["status"] == "in_session"
    finally:
        await call.close()
        await realtime.close()
