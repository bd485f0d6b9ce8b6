"""Finding a practitioner in the web app (tests/browser/find.mjs), by keyboard on a 390x844 screen: the client
searches with a typo and is told what was searched for instead, narrows to practitioners free within 7 days,
and watches a card's "Available now" come and go without reloading as the practitioner (who chose to show it)
connects, sets away, comes back and disconnects. Cards and the profile show the rating, the verified badge,
the cheapest price and the next free time in the client's own time zone; the profile lists reviews and
credentials and keeps the booking flow. Leaving the results stops the watch; coming back starts it again.
A price range upside down and an empty result are said in plain words; "Show more" brings the next page
(and watches it too). axe-core finds nothing on the new screens at desktop and phone size, and nothing
scrolls sideways.

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from klear_client import Realtime

from ..conftest import PASSWORD, signed_up
from ..discovery.conftest import admin_on, completed_booking, listed
from ..scheduler.conftest import WEEKDAYS, iso
from ..support.eventually import eventually
from .stepped import SteppedScript
from .test_web_journey import HERE, require_browser

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


def shown_in_new_york(instant: datetime) -> tuple[str, str]:
    """The date and the time the page shows for `instant` to a client whose account is in New York."""
    local = instant.astimezone(NEW_YORK)
    return f"{local:%A, %B} {local.day}, {local.year}", local.strftime("%-I:%M %p")


async def test_a_client_finds_a_practitioner_despite_a_typo_filters_by_free_time_and_sees_available_now_come_and_go(
    app, clients, tmp_path
) -> None:
    require_browser()
    ada = await listed(clients(app.url), "Ada Achebe", modalities=["acupuncture"], bio="Calm, precise needling.",
                       show_available_now=True)
    noor = await listed(clients(app.url), "Noor Okafor", modalities=["acupuncture"], rules={"min_notice_min": 10 * 24 * 60})
    client = await signed_up(clients(app.url), "client", "America/New_York", name="Cleo Client")
    # A page and one more of reiki practitioners, for "Show more".
    reiki = await asyncio.gather(*(listed(clients(app.url), f"Reiki Teacher {n}", modalities=["reiki"]) for n in range(21)))
    # Ada has a review and a verified credential.
    booked = await completed_booking(app, ada, client)
    await client.review(booked["id"], 5, "Calm and precise.")
    credential = await ada.client.upload_credential(
        ada.id, title="Licensed acupuncturist", issuer="British Acupuncture Council", number="BAC-1",
        document=base64.b64encode(b"%PDF-1.4 licence").decode(), document_type="application/pdf")
    await (await admin_on(clients(app.url), app.env["DATABASE_URL"])).verify_credential(credential["id"])
    # Ada works one day, three days from the server's today: her first free time is that day at 9:00 in London.
    # Noor asks for ten days' notice: free, but not within 7 days.
    day = (app.clock.now().astimezone(LONDON) + timedelta(days=3)).date()
    await ada.client.set_hours(ada.id, [{"weekday": WEEKDAYS[day.weekday()], "start": "09:00", "end": "17:00"}])
    first_free = datetime.combine(day, time(9), LONDON)
    found = (await client.search(q="acupuncture", free_within_days=7))["items"]
    assert [(p["id"], p["next_free_slot"]) for p in found] == [(ada.id, iso(first_free))]

    shots = os.environ.get("KLEAR_WEB_SCREENS") or str(tmp_path)
    proc = await asyncio.create_subprocess_exec("node", str(HERE / "find.mjs"), app.url, client.session.user["email"],  # type: ignore[index]
                                                PASSWORD, shots, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    driver = SteppedScript(proc)
    phones: list[Realtime] = []

    async def connect_ada() -> Realtime:
        phone = Realtime(ada.client)
        phones.append(phone)
        await phone.connect()
        return phone

    try:
        said = await driver.next()
        assert said["range_error"] == "The lowest price is above the highest price."
        assert said["nothing"] == "No practitioners match. Try other words or fewer filters."
        assert sorted(said["everyone"]) == ["Ada Achebe", "Noor Okafor"], "the typo is corrected"
        assert said["corrected"] == "Showing results for acupuncture"
        assert said["status"] == "2 practitioners found. Showing results for acupuncture", "read out with the results"
        assert said["free_soon"] == ["Ada Achebe"], "Noor is not free within 7 days"
        card = said["card"]
        assert card[:4] == ["Available now", "acupuncture", "5.0 ★ from 1 review", "✓ Verified credentials"], card
        date, hour = shown_in_new_york(first_free)
        assert card[4] == "from £50.00 · video · speaks en", card
        assert card[5].startswith(f"Next free time: {date}") and hour in card[5], (card[5], date, hour)
        assert said["badge"] is False, "Ada is offline"

        phone = await connect_ada()
        await driver.go_on()
        online = await driver.next()
        assert online["status"] == "Ada Achebe is available now."
        assert online["focus"] == online["search_focus"] == "button:Find practitioners", "focus is not moved"

        await phone.set_presence("away")
        await driver.go_on()
        assert (await driver.next())["status"] == "Ada Achebe is no longer available now."
        await phone.set_presence("online")
        await driver.go_on()
        assert (await driver.next())["status"] == "Ada Achebe is available now."
        await phone.close()
        await driver.go_on()
        gone = await driver.next()
        assert gone["status"] == "Ada Achebe is no longer available now." and gone["focus"] == gone["search_focus"]

        profile = await driver.next()
        text = profile["profile"]
        assert profile["focus"] == "h1:Ada Achebe"
        assert text[:4] == ["Ada Achebe", "5.0 ★ from 1 review", "✓ Verified credentials", "Calm, precise needling."], text
        assert "Available now" not in text, "she left"
        assert profile["loose"] == [], "nothing but elements in the view"
        assert any(t.startswith(f"Next free time: {date}") and hour in t and "(America/New_York)" in t for t in text), text
        assert "Licensed acupuncturist, British Acupuncture Council" in text
        review = next(t for t in text if t.startswith("5 of 5 ★ Cleo Client, "))
        assert "Calm and precise." in review
        assert "Choose a time for Acupuncture session" in profile["buttons"], "the booking flow goes on from the offerings"

        # Ada comes online while the client reads the profile, where nothing is watched.
        await connect_ada()

        async def available() -> None:
            assert (await client.public_profile(ada.id))["available_now"] is True

        await eventually(available)
        await driver.go_on()
        finished = await driver.next()
        assert finished["event"] == "finished"
        assert finished["kept"] == ["Ada Achebe"], "back at the same results"
        paged = finished["paged"]
        assert paged["count"] == 21 and paged["more"] is False, "the second page was the last"
        assert paged["focus"] == f"h2:{paged['last']}", "focus moves to the first card of the new page"
        log = finished["log"]
        assert sorted(log[0]["sent"]) == sorted([ada.id, noor.id])
        heard = [{"heard": {"practitioner_id": ada.id, "available_now": on}} for on in (True, False, True, False)]
        assert log[1:-2] == [{"sent": [ada.id]}, *heard,
                             {"sent": []}, {"sent": [ada.id]}, {"sent": []}, {"sent": [ada.id]}], (
            "a new search replaces the watch, the profile and another view end it, nothing is heard meanwhile, "
            "and coming back watches again")
        first_page, both_pages = log[-2]["sent"], log[-1]["sent"]
        assert len(first_page) == 20 and both_pages[:20] == first_page, "Show more adds the next page to the watch"
        assert sorted(both_pages) == sorted(p.id for p in reiki)

        checked = finished["screens"]
        assert {(s["screen"], s["size"]) for s in checked} == {
            (screen, size) for screen in ("search with a correction (phone)", "search, available now (phone)",
                                          "profile with reviews (phone)") for size in ("desktop", "phone")}
        assert [s for s in checked if s["violations"]] == [], "axe-core finds nothing on the new screens"
        assert [(s["screen"], s["size"]) for s in checked if s["overflow"] > 0] == [], "nothing scrolls sideways"
        assert finished["outside"] == [] and finished["console_errors"] == []
    finally:
        await driver.close()
        for phone in phones:
            await phone.close()
