"""Reviews: only a completed booking's client, once, within the window; one reply; reports, moderation hiding a
review from every listing and from the rating."""

from __future__ import annotations

from datetime import timedelta

import pytest

from klear_client import ApiError

from ..conftest import signed_up
from .conftest import admin_on, completed_booking, listed

pytestmark = pytest.mark.quick


async def _refused(call, status: int, code: str) -> None:
    with pytest.raises(ApiError) as err:
        await call
    assert (err.value.status, err.value.code) == (status, code)


async def test_only_the_client_of_a_completed_booking_reviews_it_once_within_the_window(app, clients):
    p = await listed(clients(app.url), "Ada Reviewed", modalities=["reiki"])
    client = await signed_up(clients(app.url))
    stranger = await signed_up(clients(app.url))
    day = (app.clock.now() + timedelta(days=3)).date().isoformat()
    upcoming = await client.book(p.offering_id, (await client.slots(p.id, p.offering_id, day, day, "UTC"))["slots"][0]["start"])
    await _refused(client.review(upcoming["id"], 5), 409, "not_completed")

    done = await completed_booking(app, p, client)
    await _refused(stranger.review(done["id"], 1), 404, "not_found")
    await _refused(p.client.review(done["id"], 5), 403, "forbidden")
    written = await client.review(done["id"], 4, "Calm and kind.")
    assert written["rating"] == 4 and written["client_name"] == "Test Client"
    await _refused(client.review(done["id"], 5), 409, "already_reviewed")

    late = await completed_booking(app, p, client)
    await app.clock.advance(timedelta(days=61))
    await _refused(client.review(late["id"], 5), 409, "review_period_over")

    profile = await stranger.public_profile(p.id)
    assert profile["rating"] == {"average": 4.0, "count": 1, "bayesian": pytest.approx((5 * 4.0 + 4) / 6)}
    assert [r["id"] for r in profile["reviews"]] == [written["id"]]


async def test_the_practitioner_replies_once(app, clients):
    p = await listed(clients(app.url), "Bo Replies", modalities=["yoga"])
    client = await signed_up(clients(app.url))
    written = await client.review((await completed_booking(app, p, client))["id"], 3, "Fine.")
    other = await listed(clients(app.url), "Not Theirs", modalities=["yoga"])
    await _refused(other.client.reply_to_review(written["id"], "Hi"), 404, "not_found")
    answered = await p.client.reply_to_review(written["id"], "Thank you for coming.")
    assert answered["reply"] == "Thank you for coming." and answered["replied_at"]
    await _refused(p.client.reply_to_review(written["id"], "Again"), 409, "already_replied")
    assert (await client.reviews(p.id))["items"][0]["reply"] == "Thank you for coming."


async def test_moderation_hides_a_review_from_every_listing_and_the_rating(app, clients):
    p = await listed(clients(app.url), "Cy Moderated", modalities=["massage"])
    fans = [await signed_up(clients(app.url)) for _ in range(2)]
    kept = await fans[0].review((await completed_booking(app, p, fans[0]))["id"], 5, "Wonderful.")
    abusive = await fans[1].review((await completed_booking(app, p, fans[1]))["id"], 1, "Rude words here.")
    reader = await signed_up(clients(app.url))
    assert (await reader.search(modality="massage", min_rating=3.5))["items"] == []  # (5 + 1) / 2

    await reader.report_review(abusive["id"], "Insults the practitioner.")
    await p.client.report_review(abusive["id"], "Abusive.")
    await _refused(reader.report_review(abusive["id"], "Again"), 409, "already_reported")
    admin = await admin_on(clients(app.url), app.env["DATABASE_URL"])
    await _refused(reader.reported_reviews(), 403, "forbidden")
    queue = (await admin.reported_reviews())["items"]
    assert [(q["review"]["id"], q["reasons"]) for q in queue] == [(abusive["id"], ["Insults the practitioner.", "Abusive."])]

    hidden = await admin.hide_review(abusive["id"], "Abusive language")
    assert hidden["hidden"] and hidden["hidden_reason"] == "Abusive language"
    assert (await admin.reported_reviews())["items"] == []
    assert [r["id"] for r in (await reader.reviews(p.id))["items"]] == [kept["id"]]
    profile = await reader.public_profile(p.id)
    assert [r["id"] for r in profile["reviews"]] == [kept["id"]]
    assert profile["rating"]["count"] == 1 and profile["rating"]["average"] == 5.0
    assert [h["id"] for h in (await reader.search(modality="massage", min_rating=3.5))["items"]] == [p.id]
    await _refused(p.client.reply_to_review(abusive["id"], "Hm"), 404, "not_found")
    await admin.hide_review(abusive["id"], "Twice")  # hiding again changes nothing
    assert (await reader.public_profile(p.id))["rating"]["count"] == 1


async def test_review_bad_input_gets_a_clear_422(app, clients):
    client = await signed_up(clients(app.url))
    for body in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 5, "body": "x" * 4001}, {}):
        resp = await client.raw("POST", f"{app.url}/api/v1/bookings/00000000-0000-0000-0000-000000000000/review",
                                json_body=body)
        assert resp.status == 422 and resp.body["error"]["code"] == "validation_failed", body
