"""Health records, consent grants and the access log: REST under /api/v1/records, /consents and /me/access-log.

The rules (who reads what, what is audited) live in the records package; this module validates, converts
and renders.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any, Literal

from pydantic import Field

from aiohttp import web

from records import attachments, consent, intake, service
from records.access import Actor
from storage import accounts, audit, consents
from storage.consents import Grant

from ..appkeys import SCHEDULER
from ..errors import ApiError, Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Instant, JsonDocument, Line, Text

routes = RouteTable("records")

Category = Literal["condition", "medication", "allergy", "note"]
Scope = Literal["intake", "history", "notes", "attachments"]


def _actor(call: Call[Any]) -> Actor:
    return Actor(call.principal.user_id, call.principal.role, call.request_id,
                 call.request.app[SCHEDULER].deps.clock.now())


class HistoryIn(Input):
    category: Category
    title: Line = Field(min_length=1, max_length=200)
    text: Text = Field("", max_length=20000)


class NoteIn(Input):
    booking_id: uuid.UUID
    text: Text = Field(min_length=1, max_length=20000)
    private: bool = Field(False, description="Hidden from the client (only where the law allows; see docs/records.md).")


class RecordEdit(Input):
    category: Category | None = Field(None, description="History entries only.")
    title: Line | None = Field(None, min_length=1, max_length=200, description="History entries only.")
    text: Text | None = Field(None, max_length=20000, description="History entries and session notes.")
    answers: JsonDocument | None = Field(None, description="Intake answers only; checked against the version answered.")
    private: bool | None = Field(None, description="Session notes only.")


class TemplateIn(Input):
    title: Line = Field(min_length=1, max_length=200)
    json_schema: JsonDocument = Field(description="A JSON Schema (draft 2020-12) the answers must fit.")


class TemplateOut(Output):
    id: uuid.UUID
    practitioner_id: uuid.UUID
    version: int
    latest: int
    title: str
    json_schema: dict[str, Any]
    created_at: Instant


class TemplateQuery(QueryInput):
    version: int | None = Field(None, ge=1, le=1_000_000, description="Default: the latest.")


class IntakeIn(Input):
    template_id: uuid.UUID
    version: int = Field(ge=1, le=1_000_000, description="The questionnaire's version answered.")
    answers: JsonDocument


class VersionOut(Output):
    version: int
    author_id: uuid.UUID
    body: dict[str, Any] = Field(description="History: category, title, text. Note: text. Intake: answers. "
                                             "Attachment: filename, content_type, size, sha256.")
    created_at: Instant


class RecordOut(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    author_id: uuid.UUID
    kind: Literal["history", "note", "intake", "attachment"]
    booking_id: uuid.UUID | None
    template_id: uuid.UUID | None
    template_version: int | None
    private: bool
    version: int
    created_at: Instant
    updated_at: Instant
    current: VersionOut


class RecordList(Output):
    records: list[RecordOut]


class VersionList(Output):
    record_id: uuid.UUID
    versions: list[VersionOut]


class RecordsQuery(QueryInput):
    client_id: uuid.UUID | None = Field(None, description="Whose records; default: your own.")


def _version(v: Any) -> VersionOut:
    return VersionOut(version=v.version, author_id=v.author_id, body=v.body, created_at=v.created_at)


def _record(shown: service.Shown) -> RecordOut:
    m = shown.meta
    return RecordOut(id=m.id, client_id=m.client_id, author_id=m.author_id, kind=m.kind, booking_id=m.booking_id,  # type: ignore[arg-type]
                     template_id=m.template_id, template_version=m.template_version, private=m.private, version=m.version, created_at=m.created_at, updated_at=m.updated_at,
                     current=_version(shown.version))


@routes.post("/records/history", body=HistoryIn, response=RecordOut, status=201, roles=("client",), errors=(403, 422))
async def add_history(call: Call[HistoryIn]) -> RecordOut:
    """Add an entry to your health history (condition, medication, allergy or note); stored encrypted."""
    body = {"category": call.body.category, "title": call.body.title, "text": call.body.text}
    return _record(await service.add_history(call.runtime.db, _actor(call), body))


@routes.post("/records/notes", body=NoteIn, response=RecordOut, status=201, roles=("practitioner",),
             errors=(403, 404, 422))
async def add_note(call: Call[NoteIn]) -> RecordOut:
    """Write a session note about the client of one of your bookings; visible to them unless private. Audited."""
    shown = await service.add_note(call.runtime.db, _actor(call), call.body.booking_id, {"text": call.body.text},
                                   call.body.private)
    return _record(shown)


@routes.get("/records", query=RecordsQuery, response=RecordList, errors=(403, 422))
async def list_records(call: Call[None]) -> RecordList:
    """Your records, or (practitioners) a client's records that their grants and your own notes let you read.
    Audited."""
    actor = _actor(call)
    client_id = call.query.client_id or actor.user_id
    return RecordList(records=[_record(s) for s in await service.of_client(call.runtime.db, actor, client_id)])


@routes.get("/records/{record_id}", response=RecordOut, errors=(403, 404))
async def get_record(call: Call[None]) -> RecordOut:
    """One record, current version. Reading another person's record needs consent and is audited."""
    return _record(await service.read(call.runtime.db, _actor(call), call.uuid("record_id")))


@routes.get("/records/{record_id}/versions", response=VersionList, errors=(403, 404))
async def record_versions(call: Call[None]) -> VersionList:
    """Every version of a record, oldest first, for whoever may read it. Audited."""
    meta, versions = await service.history(call.runtime.db, _actor(call), call.uuid("record_id"))
    return VersionList(record_id=meta.id, versions=[_version(v) for v in versions])


@routes.put("/records/{record_id}", body=RecordEdit, response=RecordOut, errors=(403, 404, 422))
async def edit_record(call: Call[RecordEdit]) -> RecordOut:
    """Edit a record you wrote: a new version; the previous ones stay readable. Attachments are not edited."""
    db, actor, record_id, edit = call.runtime.db, _actor(call), call.uuid("record_id"), call.body
    current = await service.read(db, actor, record_id)
    kind, before = current.meta.kind, current.version.body
    if kind == "attachment":
        raise Unprocessable("Attachments are not edited; add the new file as another attachment.",
                            code="validation_failed", details=[{"loc": ["path", "record_id"], "message": "an attachment",
                                                                "type": "kind"}])
    wrong = {"history": ("answers", "private"), "note": ("answers", "category", "title"),
             "intake": ("text", "category", "title", "private")}[kind]
    given = [f for f in wrong if getattr(edit, f) is not None]
    if given or (kind == "note" and edit.text is None) or (kind == "intake" and edit.answers is None):
        raise Unprocessable(f"These fields do not fit a {kind} record.", code="validation_failed",
                            details=[{"loc": ["body", f], "message": f"not for a {kind} record", "type": "kind"} for f in given])
    if kind == "history":
        body = {"category": edit.category or before["category"], "title": edit.title or before["title"],
                "text": before["text"] if edit.text is None else edit.text}
    elif kind == "note":
        body = {"text": edit.text}
    else:
        body = {"answers": edit.answers}
    return _record(await service.revise(db, actor, record_id, body, edit.private))


# -- attachments -----------------------------------------------------------------------------------------------


class UploadQuery(QueryInput):
    filename: Line = Field(min_length=1, max_length=200)
    content_type: Literal["application/pdf", "image/png", "image/jpeg", "image/webp"] = Field(
        description="What the file is; its content must agree.")


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` (the JSON body limit does not apply here)."""
    if request.content_length is not None and request.content_length > limit:
        raise attachments.AttachmentTooLarge(f"An attachment may be at most {limit} bytes.", details=[{"limit": limit}])
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise attachments.AttachmentTooLarge(f"An attachment may be at most {limit} bytes.", details=[{"limit": limit}])
        chunks.append(chunk)
    return b"".join(chunks)


@routes.post("/records/attachments", query=UploadQuery, response=RecordOut, status=201, roles=("client",),
             upload="application/octet-stream", errors=(413, 422))
async def upload_attachment(call: Call[None]) -> RecordOut:
    """Add a PDF or image to your record: the body is the file. Its content must be the type claimed in
    `content_type` (422 `attachment_type_mismatch`); larger than KLEAR_MAX_ATTACHMENT_BYTES is 413. Stored
    encrypted; nothing is kept when refused."""
    limit = call.runtime.settings.storage.max_attachment_bytes
    data = await _read_capped(call.request, limit)
    if not data:
        raise ApiError("The body is the file; it was empty.", code="validation_failed", status=422)
    shown = await attachments.upload(call.runtime.db, call.runtime.blobs, _actor(call), call.query.filename,
                                     call.query.content_type, data, limit)
    return _record(shown)


@routes.get("/records/{record_id}/file", errors=(403, 404), content_type="application/octet-stream")
async def download_attachment(call: Call[None]) -> web.Response:
    """The file of an attachment, for whoever may read the record (scope `attachments`); its type is the
    record's `content_type` (also in `X-Klear-Content-Type`). Audited."""
    body, data = await attachments.download(call.runtime.db, call.runtime.blobs, _actor(call), call.uuid("record_id"))
    # Served as bytes to save, never rendered in the API's origin; its type is in the record (`content_type`).
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"Content-Disposition": "attachment", "Cache-Control": "no-store",
                                 "X-Klear-Content-Type": body["content_type"]})


# -- intake questionnaires -----------------------------------------------------------------------------------


def _template(t: Any) -> TemplateOut:
    return TemplateOut(id=t.id, practitioner_id=t.practitioner_id, version=t.version, latest=t.latest, title=t.title,
                       json_schema=t.schema, created_at=t.created_at)


@routes.post("/records/intake-templates", body=TemplateIn, response=TemplateOut, status=201, roles=("practitioner",),
             errors=(422,))
async def define_template(call: Call[TemplateIn]) -> TemplateOut:
    """Define an intake questionnaire as a JSON Schema (draft 2020-12); version 1."""
    return _template(await intake.define(call.runtime.db, _actor(call), call.body.title, call.body.json_schema))


@routes.put("/records/intake-templates/{template_id}", body=TemplateIn, response=TemplateOut, roles=("practitioner",),
            errors=(404, 422))
async def redefine_template(call: Call[TemplateIn]) -> TemplateOut:
    """A new version of your questionnaire; answers to older versions stay checked against theirs."""
    return _template(await intake.redefine(call.runtime.db, _actor(call), call.uuid("template_id"), call.body.title,
                                           call.body.json_schema))


@routes.get("/records/intake-templates/{template_id}", query=TemplateQuery, response=TemplateOut, errors=(404, 422))
async def get_template(call: Call[None]) -> TemplateOut:
    """A questionnaire, at its latest version or the one asked for."""
    return _template(await intake.template(call.runtime.db, call.uuid("template_id"), call.query.version))


@routes.post("/records/intake", body=IntakeIn, response=RecordOut, status=201, roles=("client",), errors=(404, 422))
async def answer_intake(call: Call[IntakeIn]) -> RecordOut:
    """Answer a version of a questionnaire; answers that do not fit it are refused (422 `answers_invalid`) and
    nothing is stored. Stored encrypted."""
    b = call.body
    return _record(await service.answer_intake(call.runtime.db, _actor(call), b.template_id, b.version, b.answers))


# -- consent ----------------------------------------------------------------------------------------------


class GrantIn(Input):
    practitioner_id: uuid.UUID
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    expires_at: Instant


class ProposalIn(Input):
    booking_id: uuid.UUID
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    expires_at: Instant


class ConsentDecisionIn(Input):
    accept: bool


class GrantOut(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    client_name: str = Field(description="The client's display name.")
    practitioner_id: uuid.UUID
    practitioner_name: str = Field(description="The practitioner's display name.")
    scopes: list[str]
    status: Literal["proposed", "active", "declined", "revoked"]
    booking_id: uuid.UUID | None
    expires_at: Instant
    created_at: Instant
    decided_at: Instant | None
    revoked_at: Instant | None


class GrantList(Output):
    grants: list[GrantOut]


async def _grants(call: Call[Any], grants: list[Grant]) -> list[GrantOut]:
    people = await consent.names(call.runtime.db, grants)
    return [GrantOut.model_validate(consent.shown(g, people)) for g in grants]


async def _grant(call: Call[Any], grant: Grant) -> GrantOut:
    return (await _grants(call, [grant]))[0]


@routes.post("/consents", body=GrantIn, response=GrantOut, status=201, roles=("client",), errors=(404, 422))
async def give_consent(call: Call[GrantIn]) -> GrantOut:
    """Let a practitioner read scopes of your record until `expires_at`."""
    b = call.body
    return await _grant(call, await consent.give(call.runtime.db, call.runtime.bus, _actor(call), b.practitioner_id,
                                                 list(b.scopes), b.expires_at))


@routes.post("/consents/proposals", body=ProposalIn, response=GrantOut, status=201, roles=("practitioner",),
             errors=(404, 422))
async def propose_consent(call: Call[ProposalIn]) -> GrantOut:
    """Propose, on one of your bookings, a grant its client accepts or declines; both of you hear
    `consent:proposed`."""
    b = call.body
    return await _grant(call, await consent.propose(call.runtime.db, call.runtime.bus, _actor(call), b.booking_id,
                                                    list(b.scopes), b.expires_at))


@routes.post("/consents/{grant_id}/decision", body=ConsentDecisionIn, response=GrantOut, roles=("client",), errors=(404, 422))
async def decide_consent(call: Call[ConsentDecisionIn]) -> GrantOut:
    """Accept or decline a grant a practitioner proposed on your booking (both of you hear `consent:granted` or
    `consent:declined`). A proposal already answered is 404; one past its expiry is 422 `invalid_consent`."""
    return await _grant(call, await consent.decide(call.runtime.db, call.runtime.bus, _actor(call),
                                                   call.uuid("grant_id"), call.body.accept))


@routes.post("/consents/{grant_id}/revoke", response=GrantOut, roles=("client",), errors=(404,))
async def revoke_consent(call: Call[None]) -> GrantOut:
    """End a grant now: the practitioner's next read is refused, and their sockets hear `consent:revoked`."""
    return await _grant(call, await consent.revoke(call.runtime.db, call.runtime.bus, _actor(call),
                                                   call.uuid("grant_id")))


@routes.get("/consents", response=GrantList)
async def list_consents(call: Call[None]) -> GrantList:
    """The grants you gave or received (and proposals), newest first."""
    return GrantList(grants=await _grants(call, await consents.involving(call.runtime.db, call.principal.user_id)))


# -- who accessed my data ---------------------------------------------------------------------------------


class AccessQuery(QueryInput):
    before: int | None = Field(None, ge=1, description="Entries older than this entry id (the cursor).")
    limit: int = Field(50, ge=1, le=200)
    about: Literal["all", "health"] = Field("all", description="health: only your health records (`record.*`).")


class AccessOut(Output):
    id: int
    at: Instant
    actor_id: uuid.UUID | None
    actor_name: str | None = Field(description="Who it was (their display name); null for the system.")
    action: str
    resource: str | None
    reason: str | None = Field(description="What access rested on: grant:<id>, booking:<id>; or the scope refused.")
    outcome: Literal["allowed", "denied"]
    request_id: str | None


class AccessList(Output):
    entries: list[AccessOut]


@routes.get("/me/access-log", query=AccessQuery, response=AccessList, errors=(422,))
async def access_log(call: Call[None]) -> AccessList:
    """Who else read, wrote or tried to reach your data, and when, newest first."""
    q = call.query
    entries = await audit.accesses_by_others(call.runtime.db, call.principal.user_id, before=q.before, limit=q.limit,
                                             action_prefix="record." if q.about == "health" else None)
    # Names through `accounts`, which owns how they are stored; the log itself keeps ids only.
    actors = {e.actor_id for e in entries if e.actor_id is not None}
    named = {u.id: u.display_name for u in await accounts.get_public_users(call.runtime.db, list(actors))} if actors else {}
    return AccessList(entries=[AccessOut.model_validate({**asdict(e), "actor_name": e.actor_id and named.get(e.actor_id)})
                               for e in entries])

