"""Reading and writing health records, each access decided by `records.access` and sealed with the client's key.

Who sees what:
- the client: their history entries, and the notes about them that are not private;
- a practitioner: the notes they wrote themselves (because of the booking they are tied to); history entries,
  intake answers and attachments with an active grant of scope `history`, `intake`, `attachments`; other
  practitioners' non-private notes with scope `notes`;
- a private note: its author only.
Only the author edits a record; an edit adds a version and every version stays readable to whoever may read
the record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from storage import bookings, consents
from storage import records as store
from storage.crypto import Sealer
from storage.database import Database
from storage.errors import NotFound

from .access import Actor, ConsentRequired, audited, grant_for, read_audited, refuse
from .intake import check_answers, template

SCOPE_OF = {"history": "history", "note": "notes", "intake": "intake", "attachment": "attachments"}


@dataclass(frozen=True, slots=True)
class Shown:
    """A record as its reader sees it: what is known about it and its current (or a given) version."""

    meta: store.RecordMeta
    version: store.Version


def _resource(meta: store.RecordMeta) -> str:
    return f"record:{meta.id}"


async def _reason(db: Database, actor: Actor, meta: store.RecordMeta, action: str) -> str | None:
    """Why `actor` may read `meta` ("self" for the client's own), or a refusal (audited)."""
    if actor.user_id == meta.client_id:
        if meta.private:
            raise NotFound("record")
        return "self"
    if actor.user_id == meta.author_id:
        return f"booking:{meta.booking_id}"
    if meta.private:
        raise await refuse(db, actor, action, meta.client_id, _resource(meta), "This note is private to its author.")
    return await grant_for(db, actor, meta.client_id, SCOPE_OF[meta.kind], action=action, resource=_resource(meta))


async def _meta(db: Database, record_id: uuid.UUID) -> store.RecordMeta:
    meta = await store.meta(db, record_id)
    if meta is None:
        raise NotFound("record")
    return meta


async def add_history(db: Database, actor: Actor, body: dict[str, Any]) -> Shown:
    """A client adds an entry to their own health history."""
    sealer = await db.keys.sealer_for(db, actor.user_id)
    meta, version = await store.create(db, sealer, client_id=actor.user_id, author_id=actor.user_id, kind="history",
                                       booking_id=None, private=False, body=body)
    return Shown(meta, version)


async def add_own(db: Database, actor: Actor, kind: str, body: dict[str, Any], *,
                  template_ref: tuple[uuid.UUID, int] | None = None, record_id: uuid.UUID | None = None,
                  sealer: Sealer | None = None) -> Shown:
    """A client adds a record of their own: an intake answer (`template_ref`) or an attachment (`record_id`
    chosen when its blob was stored)."""
    sealer = sealer or await db.keys.sealer_for(db, actor.user_id)
    meta, version = await store.create(db, sealer, client_id=actor.user_id, author_id=actor.user_id, kind=kind,
                                       booking_id=None, private=False, body=body, template=template_ref,
                                       record_id=record_id)
    return Shown(meta, version)


async def answer_intake(db: Database, actor: Actor, template_id: uuid.UUID, version: int,
                        answers: dict[str, Any]) -> Shown:
    """A client answers version `version` of a questionnaire; answers that do not fit it are refused."""
    questionnaire = await template(db, template_id, version)
    check_answers(questionnaire.schema, answers)
    return await add_own(db, actor, "intake", {"answers": answers}, template_ref=(template_id, version))


async def add_note(db: Database, actor: Actor, booking_id: uuid.UUID, body: dict[str, Any], private: bool) -> Shown:
    """The practitioner of a booking writes a session note about its client (audited as a write of the client's
    data, because of the booking)."""
    booking = await bookings.get(db, booking_id)
    if booking is None or actor.user_id not in (booking.practitioner_id, booking.client_id):
        raise NotFound("booking")
    resource = f"booking:{booking_id}:notes"
    if booking.practitioner_id != actor.user_id:
        raise await refuse(db, actor, "record.write", booking.client_id, resource,
                           "Only the booking's practitioner writes session notes.")
    sealer = await db.keys.sealer_for(db, booking.client_id)
    meta, version = await store.create(db, sealer, client_id=booking.client_id, author_id=actor.user_id, kind="note",
                                       booking_id=booking_id, private=private, body=body)
    await audited(db, actor, "record.write", booking.client_id, _resource(meta), f"booking:{booking_id}")
    return Shown(meta, version)


async def revise(db: Database, actor: Actor, record_id: uuid.UUID, body: dict[str, Any], private: bool | None) -> Shown:
    """The author edits a record: a new version; the old ones stay."""
    meta = await _meta(db, record_id)
    if actor.user_id not in (meta.client_id, meta.author_id):
        await _reason(db, actor, meta, "record.write")  # refuses (audited) unless they may read it
    if actor.user_id != meta.author_id:
        raise await refuse(db, actor, "record.write", meta.client_id, _resource(meta),
                           "Only the author of a record edits it.")
    if meta.kind == "history" and private:
        raise await refuse(db, actor, "record.write", meta.client_id, _resource(meta),
                           "Only session notes can be private.")
    if meta.kind == "intake":
        assert meta.template_id is not None and meta.template_version is not None
        check_answers((await template(db, meta.template_id, meta.template_version)).schema, body.get("answers", {}))
    sealer = await db.keys.sealer_for(db, meta.client_id)
    new, version = await store.revise(db, sealer, record_id, author_id=actor.user_id, body=body, private=private)
    await audited(db, actor, "record.write", meta.client_id, _resource(meta), f"booking:{meta.booking_id}")
    return Shown(new, version)


async def read(db: Database, actor: Actor, record_id: uuid.UUID) -> Shown:
    meta = await _meta(db, record_id)
    reason = await _reason(db, actor, meta, "record.read")

    async def latest() -> store.Version:
        return (await store.latest(db, await db.keys.sealer_for(db, meta.client_id), [meta]))[meta.id]

    return Shown(meta, await read_audited(db, actor, "record.read", meta.client_id, _resource(meta), reason, latest()))


async def history(db: Database, actor: Actor, record_id: uuid.UUID) -> tuple[store.RecordMeta, list[store.Version]]:
    """Every version of a record, for whoever may read it."""
    meta = await _meta(db, record_id)
    reason = await _reason(db, actor, meta, "record.read_versions")

    async def versions() -> list[store.Version]:
        return await store.versions(db, await db.keys.sealer_for(db, meta.client_id), record_id)

    return meta, await read_audited(db, actor, "record.read_versions", meta.client_id, _resource(meta), reason,
                                    versions())


async def of_client(db: Database, actor: Actor, client_id: uuid.UUID) -> list[Shown]:
    """The records of a client that `actor` may read. For a practitioner with no grant and no note of their own
    about this client, a refusal (audited)."""
    metas = await store.of_client(db, client_id, list(SCOPE_OF))
    if actor.user_id == client_id:
        visible, reason = [m for m in metas if not m.private], "self"
    else:
        granted = {scope: f"grant:{gid}" for scope, gid in
                   (await consents.active_scopes(db, client_id, actor.user_id, actor.now)).items()}
        visible = [m for m in metas if m.author_id == actor.user_id
                   or (not m.private and SCOPE_OF[m.kind] in granted)]
        if not granted and not visible:
            await audited(db, actor, "record.list", client_id, f"client:{client_id}:records", None, allowed=False)
            raise ConsentRequired(details=[{"scope": s} for s in ("history", "notes", "intake", "attachments")])
        reason = ",".join(sorted(set(granted.values()))) or "own notes"
    if not visible:
        return []

    async def current() -> dict[uuid.UUID, store.Version]:
        return await store.latest(db, await db.keys.sealer_for(db, client_id), visible)

    opened = await read_audited(db, actor, "record.list", client_id, f"client:{client_id}:records", reason, current())
    return [Shown(m, opened[m.id]) for m in visible]
