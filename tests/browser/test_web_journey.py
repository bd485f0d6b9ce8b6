"""The web app for both roles, driven in headless Chromium through the UI alone (tests/browser/journey.mjs):
a practitioner sets up, a client on a 390x844 screen finds and books them by keyboard through the calendar
and the review step, the practitioner confirms from the inbox and the client's page follows live, they
chat, the client reschedules (the practitioner's agenda follows) and cancels. axe-core finds nothing on any
screen on the way, no screen scrolls sideways, and focus lands on what each action changed.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..conftest import PASSWORD, new_email
from ..support.tools import require

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "js" / "node_modules"


def require_browser() -> None:
    missing = [what for what, ok in (("chromium at /usr/bin/chromium", Path("/usr/bin/chromium").exists()),
                                     ("node", shutil.which("node") is not None),
                                     ("tests/js/node_modules/playwright-core", (NODE_MODULES / "playwright-core").exists()),
                                     ("tests/js/node_modules/axe-core", (NODE_MODULES / "axe-core").exists())) if not ok]
    require(missing, "the browser test")


async def run_driver(script: str, *args: str, timeout: float = 240) -> list[dict[str, Any]]:
    """Run a driver to its end; its JSON lines, the last of which is `finished` (an `error` fails the test)."""
    require_browser()
    proc = await asyncio.create_subprocess_exec("node", str(HERE / script), *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, "the driver printed nothing"
    assert lines[-1]["event"] != "error", json.dumps(lines[-1], indent=1)
    return lines


def by_event(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["event"]: line for line in lines}


async def test_a_practitioner_and_a_client_go_through_setup_booking_confirmation_chat_move_and_cancel(app, tmp_path) -> None:
    # KLEAR_WEB_SCREENS=docs/screens regenerates the screenshots the README links (docs/web.md).
    shots = os.environ.get("KLEAR_WEB_SCREENS") or str(tmp_path)
    lines = by_event(await run_driver("journey.mjs", app.url, new_email("pro"), new_email("client"), PASSWORD, shots))

    assert lines["practitioner_ready"]["shows_available_now"] is True, "the choice is saved and shown again"
    requested = lines["requested"]
    start = datetime.fromisoformat(requested["start"].replace("Z", "+00:00"))
    assert "25.00" in requested["review"] and "Pat Practitioner confirms each request" in requested["review"]
    assert "(America/New_York)" in requested["review"] and "(Europe/Berlin)" in requested["review"], "both zones"
    assert start.astimezone(ZoneInfo("America/New_York")).strftime("%-I:%M %p") in requested["slot"], requested["slot"]
    assert requested["ics"] == "klear-session.ics"
    assert "confirmed" in lines["confirmed"]["live_status"], "the client is told of the confirmation live"
    assert lines["chatted"]["presence"] == "Pat Practitioner is online."
    assert lines["rescheduled"]["start"] != requested["start"]
    assert "Notifications, " in lines["cancelled"]["bell"] and "cancelled" in lines["cancelled"]["notes"]

    finished = lines["finished"]
    assert {s["screen"] for s in finished["screens"]} >= {
        "sign-in", "workspace (new)", "workspace (set up)", "sessions (phone)", "search (phone)", "profile (phone)",
        "calendar (phone)", "review (phone)", "confirmation (phone)", "requests inbox", "chat (phone)",
        "notifications", "account (phone)"}
    assert {s["size"] for s in finished["screens"]} == {"desktop", "phone"}
    assert [s for s in finished["screens"] if s["violations"]] == [], "axe-core finds nothing on any screen, at either size"
    assert [(s["screen"], s["size"]) for s in finished["screens"] if s["overflow"] > 0] == [], "nothing scrolls sideways"
    assert finished["first_paint_ms"] < 1000, "the first screen renders in under a second"
    focus = finished["focus"]
    assert focus["review"] == "h2:Review your booking" and focus["confirmation"].startswith("h1:Requested: Video yoga")
    assert focus["day"].startswith("h2:Free times on") and focus["confirm"].startswith("h3:Video yoga with Cleo Client")
    assert finished["outside"] == [] and finished["console_errors"] == []
