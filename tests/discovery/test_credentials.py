"""Credentials: upload, the admin queue, verify or reject with a reason, the badge in search and on the profile,
and its removal by the expiry job."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from klear_client import ApiError

from ..conftest import signed_up
from ..support.eventually import eventually
from .conftest import admin_on, listed

pytestmark = pytest.mark.quick

PDF = base64.b64encode(b"%PDF-1.4 certificate").decode()


def _iso(t) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def test_a_verified_credential_is_a_badge_until_its_expiry_job_takes_it(app, clients):
    p = await listed(clients(app.url), "Dee Licensed", modalities=["acupuncture"])
    unverified = await listed(clients(app.url), "Eve Unlicensed", modalities=["acupuncture"])
    expires = app.clock.now() + timedelta(days=30)
    made = await p.client.upload_credential(
        p.id, title="Licensed acupuncturist", issuer="British Acupuncture Council", number="BAC-1234",
        expires_at=_iso(expires), document=PDF, document_type="application/pdf",
    )
    assert made["status"] == "pending" and made["number"] == "BAC-1234"
    reader = await signed_up(clients(app.url))
    assert (await reader.credentials(p.id))["items"] == []  # pending ones are the practitioner's business
    assert (await reader.search(modality="acupuncture", verified=True))["items"] == []

    admin = await admin_on(clients(app.url), app.env["DATABASE_URL"])
    assert [c["id"] for c in (await admin.pending_credentials())["items"]] == [made["id"]]
    document = await admin.raw("GET", f"{app.url}/api/v1/admin/credentials/{made['id']}/document")
    assert document.status == 200 and document.raw == b"%PDF-1.4 certificate"
    verified = await admin.verify_credential(made["id"])
    assert verified["status"] == "verified"
    with pytest.raises(ApiError) as err:
        await admin.verify_credential(made["id"])
    assert err.value.code == "already_decided"

    shown = (await reader.credentials(p.id))["items"]
    assert [(c["title"], c["issuer"], c["number"]) for c in shown] == [("Licensed acupuncturist", "British Acupuncture Council", None)]
    assert [h["id"] for h in (await reader.search(modality="acupuncture", verified=True))["items"]] == [p.id]
    profile = await reader.public_profile(p.id)
    assert profile["verified"] and [c["id"] for c in profile["credentials"]] == [made["id"]]
    assert not (await reader.public_profile(unverified.id))["verified"]

    await app.clock.advance(timedelta(days=31))

    async def badge_gone() -> None:
        assert (await reader.search(modality="acupuncture", verified=True))["items"] == []
        assert not (await reader.public_profile(p.id))["verified"]

    await eventually(badge_gone)
    assert [c["status"] for c in (await p.client.credentials(p.id))["items"]] == ["expired"]


async def test_a_rejection_needs_a_reason_the_practitioner_sees(app, clients):
    p = await listed(clients(app.url), "Fay Rejected", modalities=["reiki"])
    made = await p.client.upload_credential(p.id, title="Reiki master", issuer="Somewhere", number="1",
                                            document=PDF, document_type="application/pdf")
    admin = await admin_on(clients(app.url), app.env["DATABASE_URL"])
    with pytest.raises(ApiError) as err:
        await admin.call("POST", f"/admin/credentials/{made['id']}/reject", json_body={})
    assert err.value.status == 422
    rejected = await admin.reject_credential(made["id"], "The issuer does not certify reiki masters.")
    assert rejected["status"] == "rejected"
    mine = (await p.client.credentials(p.id))["items"]
    assert [(c["status"], c["reason"]) for c in mine] == [("rejected", "The issuer does not certify reiki masters.")]
    with pytest.raises(ApiError) as err:
        await p.client.verify_credential(made["id"])
    assert err.value.status == 403


async def test_credential_bad_input_gets_a_clear_422(app, clients):
    p = await listed(clients(app.url), "Gil Sloppy", modalities=["reiki"])
    base = {"title": "T", "issuer": "I", "number": "N", "document": PDF, "document_type": "application/pdf"}
    for bad in ({"document": "not base64!"}, {"document": ""}, {"document_type": "text/html"},
                {"expires_at": "next year"}, {"title": ""}):
        with pytest.raises(ApiError) as err:
            await p.client.upload_credential(p.id, **{**base, **bad})
        assert err.value.status == 422, bad
