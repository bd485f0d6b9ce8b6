"""Search: typos find the right people, each filter and the radius agree with a brute-force check over the same
data, availability agrees with the slots endpoint, ranking explains itself, cursors hold, bad input is refused."""

from __future__ import annotations

import asyncpg
import pytest

from klear_client import ApiError

from ..conftest import signed_up
from ..support.eventually import eventually
from .conftest import first_free_recorded, listed

pytestmark = pytest.mark.quick


async def test_typos_find_the_right_practitioners(app, clients):
    oka = await listed(clients(app.url), "Chidi Okafor", modalities=["acupuncture"], bio="Traditional needling.",
                       location=(53.8008, -1.5491, "Leeds"))
    med = await listed(clients(app.url), "Maria Nowak", modalities=["meditation"], languages=["pl", "en"])
    await listed(clients(app.url), "Sam Reed", modalities=["yoga"])
    await listed(clients(app.url), "Omar Lee", modalities=["reiki"])  # near "okafr" and "leeds", but farther
    c = await signed_up(clients(app.url))

    async def ids(q: str) -> list[str]:
        return [x["id"] for x in (await c.search(q))["items"]]

    assert await ids("acupunture") == [oka.id]
    assert await ids("meditaton") == [med.id]
    assert await ids("Okafr") == [oka.id]
    assert await ids("acupunture leeds") == [oka.id]
    found = await c.search("meditaton")
    assert found["corrections"] == {"meditaton": ["meditation"]}
    leeds = await c.search("Leeds")  # a known word is taken as written, not also read as Lee
    assert [x["id"] for x in leeds["items"]] == [oka.id] and leeds["corrections"] == {}
    conn = await asyncpg.connect(app.env["DATABASE_URL"])
    try:
        searches = await conn.fetchval("SELECT count(*) FROM audit_log WHERE actor_id = $1 AND action = 'practitioner.search'",
                                       c.session.user_id)
    finally:
        await conn.close()
    assert searches == 6  # every search is audited


PLACES = [(53.8008, -1.5491, "Leeds"), (53.4808, -2.2426, "Manchester"), (51.5072, -0.1276, "London"),
          (53.9591, -1.0815, "York"), (55.9533, -3.1883, "Edinburgh"), None]


async def _population(app, clients) -> list[dict]:
    """Twelve practitioners whose modality, languages, mode, price and place vary independently."""
    made = []
    modalities = ["yoga", "reiki", "acupuncture"]
    for i in range(12):
        place = PLACES[i % len(PLACES)]
        mode = "in_person" if i % 2 == 0 and place is not None else "video"
        spec = {
            "modality": modalities[i % 3], "languages": ["en"] if i % 4 else ["pl", "en"], "mode": mode,
            "price": 3000 + 1000 * (i % 5), "place": place,
        }
        offering = {"mode": mode, "price_minor": spec["price"]}
        if mode == "in_person":
            offering["address"] = f"{i} High Street, {place[2]}"
        p = await listed(clients(app.url), f"Person {chr(65 + i)}", modalities=[spec["modality"]],
                         languages=spec["languages"], location=place, offering=offering)
        made.append({**spec, "id": p.id})
    return made


async def _all(c, limit: int = 5, **filters) -> set[str]:
    items, cursor = [], None
    while True:
        page = await c.search(limit=limit, cursor=cursor, **filters)
        items += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(items) == len(set(items)), "a page repeated a result"
    return set(items)


async def test_each_filter_and_the_radius_agree_with_brute_force(app, clients):
    from discovery.ranking import great_circle_km

    people = await _population(app, clients)
    c = await signed_up(clients(app.url))
    everyone = {p["id"] for p in people}
    assert await _all(c) == everyone
    assert await _all(c, modality="reiki") == {p["id"] for p in people if p["modality"] == "reiki"}
    assert await _all(c, language="pl") == {p["id"] for p in people if "pl" in p["languages"]}
    assert await _all(c, mode="in_person") == {p["id"] for p in people if p["mode"] == "in_person"}
    assert await _all(c, price_min=4000, price_max=6000) == {p["id"] for p in people if 4000 <= p["price"] <= 6000}
    assert await _all(c, price_max=3000, currency="GBP") == {p["id"] for p in people if p["price"] <= 3000}
    assert await _all(c, currency="EUR") == set()
    assert await _all(c, modality="yoga", language="en", mode="video") == {
        p["id"] for p in people if p["modality"] == "yoga" and p["mode"] == "video"}
    for radius in (1, 60, 100, 320, 1000):
        expected = {p["id"] for p in people if p["mode"] == "in_person"
                    and great_circle_km(53.8008, -1.5491, p["place"][0], p["place"][1]) <= radius}
        assert await _all(c, lat=53.8008, lon=-1.5491, radius_km=radius) == expected, radius
    near = await c.search(lat=53.8008, lon=-1.5491, radius_km=100, limit=50)
    for hit in near["items"]:
        p = next(p for p in people if p["id"] == hit["id"])
        assert hit["distance_km"] == pytest.approx(great_circle_km(53.8008, -1.5491, *p["place"][:2]), abs=0.001)
        assert hit["place"] == p["place"][2]
    distances = [h["distance_km"] for h in near["items"]]
    assert distances == sorted(distances)  # all else equal, nearer ranks higher


async def test_a_cursor_neither_repeats_nor_skips_while_practitioners_join(app, clients):
    people = await _population(app, clients)
    c = await signed_up(clients(app.url))
    first = await c.search(limit=4)
    await listed(clients(app.url), "Late Joiner", modalities=["yoga"])
    seen = [x["id"] for x in first["items"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        page = await c.search(limit=4, cursor=cursor)
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert {p["id"] for p in people} <= set(seen)


async def test_explain_shows_each_factor_and_the_score_is_their_weighted_sum(app, clients):
    await _population(app, clients)
    c = await signed_up(clients(app.url))
    await first_free_recorded(app)  # the soonest factor ranks by the recorded first free slot
    page = await c.search("reiki", lat=53.8, lon=-1.55, explain=True, free_within_days=7)
    assert page["items"]
    for hit in page["items"]:
        e = hit["explain"]
        w = e["weights"]
        total = w["text"] * e["text"] + w["distance"] * e["distance"] + w["rating"] * e["rating"] + w["soonest"] * e["soonest"]
        assert e["score"] == pytest.approx(total)
        assert e["text"] > 0 and 0 < e["soonest"] <= 1 and hit["next_free_slot"] is not None
    scores = [h["explain"]["score"] for h in page["items"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("query, code", [
    ({"radius_km": 5}, "radius_without_point"),
    ({"lat": 91, "lon": 0}, "validation_failed"),
    ({"lat": 50}, "incomplete_point"),
    ({"price_min": 5000, "price_max": 1000}, "invalid_price_range"),
    ({"q": "a" * 10_000}, "request_too_long"),  # longer than a request line may be: the HTTP parser's 400
    ({"q": "a" * 5_000}, "validation_failed"),
    ({"lat": 50, "lon": 0, "radius_km": 5, "mode": "video"}, "radius_needs_in_person"),
    ({"cursor": "not-a-cursor"}, "invalid_cursor"),
    ({"radius_km": "far", "lat": 1, "lon": 1}, "validation_failed"),
    ({"free_within_days": 0}, "validation_failed"),
])
async def test_bad_search_input_gets_a_clear_422(app, clients, query, code):
    c = await signed_up(clients(app.url))
    with pytest.raises(ApiError) as err:
        await c.search(**query)
    assert err.value.status == (400 if code == "request_too_long" else 422) and err.value.code == code


async def test_free_within_n_days_agrees_with_the_slots_endpoint(app, clients):
    from datetime import datetime, timedelta

    made = [
        await listed(clients(app.url), "Open Always", modalities=["yoga"]),
        await listed(clients(app.url), "No Hours", modalities=["yoga"], weekly=[]),
        await listed(clients(app.url), "Long Notice", modalities=["yoga"], rules={"min_notice_min": 10 * 1440}),
        await listed(clients(app.url), "Short Horizon", modalities=["yoga"], rules={"horizon_days": 1}),
        await listed(clients(app.url), "Weekends", modalities=["yoga"],
                     weekly=[{"weekday": "sunday", "start": "10:00", "end": "11:00"}]),
    ]
    c = await signed_up(clients(app.url))
    for days in (1, 3, 7, 14):
        page = await c.search(modality="yoga", free_within_days=days, limit=50)
        start = datetime.fromisoformat(page["as_of"].replace("Z", "+00:00"))
        fmt = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
        expected = {}
        for p in made:
            slots = (await c.slots(p.id, p.offering_id, fmt(start), fmt(start + timedelta(days=days)), "UTC"))["slots"]
            if slots:
                expected[p.id] = slots[0]["start"]
        assert {h["id"]: h["next_free_slot"] for h in page["items"]} == expected, days
        assert await _all(c, limit=2, modality="yoga", free_within_days=days) == set(expected), days  # paged


async def test_practitioners_from_before_search_are_indexed_by_the_rebuild_job(app, clients):
    p = await listed(clients(app.url), "Olu Before", modalities=["qigong"])
    c = await signed_up(clients(app.url))
    conn = await asyncpg.connect(app.env["DATABASE_URL"])
    try:  # the state migration 0050 leaves an existing practitioner in, with the job it queues
        await conn.execute("UPDATE practitioner_search SET document = ''::tsvector WHERE practitioner_id = $1", p.id)
        await conn.execute("DELETE FROM search_vocabulary WHERE word = 'olu'")
        assert (await c.search("Olu"))["items"] == []
        await conn.execute("INSERT INTO jobs (kind, run_at, dedupe_key) VALUES ('search.rebuild', now(), 'search.rebuild:test')")
    finally:
        await conn.close()

    async def found() -> None:
        assert [h["id"] for h in (await c.search("Olu"))["items"]] == [p.id]
        assert [h["id"] for h in (await c.search("Oluu"))["items"]] == [p.id]  # its words are in the vocabulary again

    await eventually(found)
