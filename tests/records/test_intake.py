"""Intake questionnaires: versioned JSON Schema templates, answers checked against the version answered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from klear_client import ApiError

from ..scheduler.conftest import iso
from .conftest import booked_pair

pytestmark = pytest.mark.quick

V1 = {"type": "object", "required": ["sleep_hours"], "additionalProperties": False,
      "properties": {"sleep_hours": {"type": "integer", "minimum": 0, "maximum": 24},
                     "injuries": {"type": "string", "maxLength": 500}}}
V2 = {"type": "object", "required": ["sleep_hours", "stress"],
      "properties": {"sleep_hours": {"type": "integer"}, "stress": {"enum": ["low", "medium", "high"]}}}


async def test_answers_are_checked_against_the_version_answered_and_kept_per_version(app, clients):
    pair = await booked_pair(clients, app.url)
    template = await pair.practitioner.define_intake("Before your first session", V1)
    answered = await pair.client.answer_intake(template["id"], 1, {"sleep_hours": 6, "injuries": "Left knee"})
    assert answered["kind"] == "intake" and answered["template_version"] == 1

    revised = await pair.practitioner.redefine_intake(template["id"], "Before your first session", V2)
    assert revised["version"] == 2 and (await pair.client.intake_template(template["id"], 1))["json_schema"] == V1
    # An edit of the old answer is still checked against version 1 (which has no `stress`, and forbids extras).
    with pytest.raises(ApiError) as extra:
        await pair.client.edit_record(answered["id"], answers={"sleep_hours": 7, "stress": "low"})
    assert extra.value.code == "answers_invalid"
    edited = await pair.client.edit_record(answered["id"], answers={"sleep_hours": 7})
    assert edited["version"] == 2
    versions = await pair.client.record_versions(answered["id"])
    assert [v["body"]["answers"]["sleep_hours"] for v in versions] == [6, 7]

    with pytest.raises(ApiError) as needs_consent:
        await pair.practitioner.record(answered["id"])
    assert needs_consent.value.code == "consent_required"
    await pair.client.grant_consent(pair.practitioner_id, ["intake"], iso(app.clock.now() + timedelta(days=1)))
    assert (await pair.practitioner.record(answered["id"]))["current"]["body"]["answers"] == {"sleep_hours": 7}


async def test_answers_that_fail_the_schema_get_422_naming_each_problem_and_nothing_is_stored(app, clients):
    pair = await booked_pair(clients, app.url)
    template = await pair.practitioner.define_intake("Intake", V1)
    bad = await pair.client.raw("POST", "/api/v1/records/intake", json_body={
        "template_id": template["id"], "version": 1, "answers": {"sleep_hours": 30, "pets": "cat"}})
    assert bad.status == 422 and bad.body["error"]["code"] == "answers_invalid"
    problems = {tuple(d["loc"]): d["type"] for d in bad.body["error"]["details"]}
    assert problems == {("body", "answers", "sleep_hours"): "maximum", ("body", "answers"): "additionalProperties"}
    unknown_version = await pair.client.raw("POST", "/api/v1/records/intake", json_body={
        "template_id": template["id"], "version": 2, "answers": {"sleep_hours": 8}})
    assert unknown_version.status == 404
    assert await pair.client.records() == []


async def test_a_questionnaire_that_is_not_a_json_schema_is_refused(app, clients):
    pair = await booked_pair(clients, app.url)
    bad = await pair.practitioner.raw("POST", "/api/v1/records/intake-templates", json_body={
        "title": "Broken", "json_schema": {"type": "object", "properties": {"x": {"type": "no-such-type"}}}})
    assert bad.status == 422 and bad.body["error"]["code"] == "invalid_template"
    remote = await pair.practitioner.raw("POST", "/api/v1/records/intake-templates", json_body={
        "title": "Remote", "json_schema": {"$ref": "https://example.org/schema.json"}})
    assert remote.status == 422 and remote.body["error"]["code"] == "invalid_template"
    by_client = await pair.client.raw("POST", "/api/v1/records/intake-templates", json_body={
        "title": "Mine", "json_schema": V1})
    assert by_client.status == 403
