"""Credentials: a practitioner uploads one (issuer, number, expiry, document); admins verify or reject it with a
reason; a verified one shows as a badge until it expires (discovery/jobs.py takes the badge then).

Others see only verified credentials, without number or document; the
admin reading a document is audited.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from storage import credentials
from storage.credentials import Credential

from ..errors import Conflict, NotFound, Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Instant, Line
from .scheduling import existing_profile, own_practitioner_id, scheduler

routes = RouteTable("credentials")

MAX_DOCUMENT = 512 * 1024
Base64 = Annotated[str, StringConstraints(min_length=4, max_length=(MAX_DOCUMENT * 4) // 3 + 4, pattern=r"^[A-Za-z0-9+/]+={0,2}$")]


class CredentialIn(Input):
    title: Line = Field(min_length=1, max_length=200, description="What it certifies, e.g. Licensed acupuncturist.")
    issuer: Line = Field(min_length=1, max_length=200)
    number: Line = Field(min_length=1, max_length=100, description="The issuer's registration or certificate number.")
    expires_at: Instant | None = None
    document: Base64 = Field(description="The document, base64 (at most 512 KiB).")
    document_type: Literal["application/pdf", "image/png", "image/jpeg"]


class RejectionIn(Input):
    reason: Line | None = Field(None, min_length=1, max_length=500, description="Required to reject.")


class CredentialOut(Output):
    id: uuid.UUID
    practitioner_id: uuid.UUID
    title: str
    issuer: str
    number: str | None = Field(description="Shown to the practitioner and admins only.")
    expires_at: Instant | None
    status: Literal["pending", "verified", "rejected", "expired"]
    reason: str | None = Field(description="Why it was rejected (to the practitioner and admins only).")
    decided_at: Instant | None
    created_at: Instant


class CredentialList(Output):
    items: list[CredentialOut]


class PendingQuery(QueryInput):
    limit: int = Field(50, ge=1, le=200)


def credential_out(c: Credential, *, full: bool) -> CredentialOut:
    return CredentialOut(
        id=c.id, practitioner_id=c.practitioner_id, title=c.title, issuer=c.issuer, number=c.number if full else None,
        expires_at=c.expires_at, status=c.status, reason=c.reason if full else None,  # type: ignore[arg-type]
        decided_at=c.decided_at, created_at=c.created_at,
    )


@routes.post("/practitioners/{practitioner_id}/credentials", body=CredentialIn, response=CredentialOut, status=201,
             errors=(403, 404, 422))
async def upload(call: Call[CredentialIn]) -> CredentialOut:
    """Upload a credential for an admin to verify."""
    practitioner_id = own_practitioner_id(call)
    await existing_profile(call, practitioner_id)
    body = call.body
    try:
        document = base64.b64decode(body.document, validate=True)
    except (binascii.Error, ValueError):
        document = b""
    if not document or len(document) > MAX_DOCUMENT:
        raise Unprocessable("The document must be base64 of at most 512 KiB.", details=[
            {"loc": ["body", "document"], "message": "base64 of 1 byte to 512 KiB", "type": "value_error"}])
    made = await credentials.add(
        call.runtime.db, practitioner_id, title=body.title, issuer=body.issuer, number=body.number,
        expires_at=body.expires_at, document=document, document_type=body.document_type,
    )
    return credential_out(made, full=True)


@routes.get("/practitioners/{practitioner_id}/credentials", response=CredentialList, errors=(404,))
async def list_credentials(call: Call[None]) -> CredentialList:
    """A practitioner's credentials: all of them to the practitioner and admins, verified ones to others."""
    practitioner_id = call.uuid("practitioner_id")
    await existing_profile(call, practitioner_id)
    full = practitioner_id == call.principal.user_id or call.principal.role == "admin"
    found = await credentials.of_practitioner(call.runtime.db, practitioner_id, verified_only=not full)
    return CredentialList(items=[credential_out(c, full=full) for c in found])


@routes.get("/admin/credentials/pending", query=PendingQuery, response=CredentialList, roles=("admin",), errors=(422,))
async def pending(call: Call[None]) -> CredentialList:
    """Admin: credentials awaiting a decision, the oldest first."""
    found = await credentials.pending(call.runtime.db, limit=call.query.limit)
    return CredentialList(items=[credential_out(c, full=True) for c in found])


@routes.get("/admin/credentials/{credential_id}/document", roles=("admin",), errors=(404,), content_type="application/octet-stream",
            summary="Admin: the uploaded document (audited).")
async def document(call: Call[None]) -> web.Response:
    credential_id = call.uuid("credential_id")
    found = await credentials.document(call.runtime.db, credential_id)
    if found is None:
        raise NotFound("No credential with that id.")
    owner, content, media_type = found
    await call.audit("credential.document", subject_id=owner, resource=f"credential:{credential_id}")
    return web.Response(body=content, content_type=media_type)


@routes.post("/admin/credentials/{credential_id}/verify", response=CredentialOut, roles=("admin",), errors=(404, 409))
async def verify(call: Call[None]) -> CredentialOut:
    """Admin: verify a pending credential; the practitioner gets the badge until it expires."""
    return await _decide(call, verified=True, reason=None)


@routes.post("/admin/credentials/{credential_id}/reject", body=RejectionIn, response=CredentialOut, roles=("admin",),
             errors=(404, 409, 422))
async def reject(call: Call[RejectionIn]) -> CredentialOut:
    """Admin: reject a pending credential with a reason the practitioner sees."""
    if call.body.reason is None:
        raise Unprocessable("Say why the credential is rejected.", details=[
            {"loc": ["body", "reason"], "message": "required to reject", "type": "missing"}])
    return await _decide(call, verified=False, reason=call.body.reason)


async def _decide(call: Call[object], *, verified: bool, reason: str | None) -> CredentialOut:
    credential_id = call.uuid("credential_id")
    db = call.runtime.db
    decided = await credentials.decide(
        db, credential_id, call.principal.user_id, verified=verified, reason=reason, now=scheduler(call).deps.clock.now(),
    )
    if decided is None:
        if await credentials.document(db, credential_id) is None:
            raise NotFound("No credential with that id.")
        raise Conflict("This credential has already been decided.", code="already_decided")
    return credential_out(decided, full=True)
