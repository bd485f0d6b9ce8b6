"""Attachments: PDFs and images a client adds to their record, type-checked by content (not name or claim),
size-limited, sealed with the client's key and kept in the blob store; the record row holds what it is.

Attachments are not edited: a new file is a new attachment, so their history is their list.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from storage import records as store
from storage.blobs import BlobStore
from storage.database import Database
from storage.errors import NotFound, Refusal

from . import service
from .access import Actor

# What a client may upload, and how each is recognised from its first bytes.
SIGNATURES = {
    "application/pdf": lambda b: b.startswith(b"%PDF-"),
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/webp": lambda b: len(b) >= 12 and b[:4] == b"RIFF" and b[8:12] == b"WEBP",
}


class AttachmentRefused(Refusal):
    status, code = 422, "unsupported_attachment"


class AttachmentTooLarge(Refusal):
    status, code = 413, "attachment_too_large"


def sniff(data: bytes) -> str | None:
    """The type `data` really is, among those accepted; None for anything else."""
    return next((kind for kind, matches in SIGNATURES.items() if matches(data)), None)


def blob_key(client_id: uuid.UUID, record_id: uuid.UUID, version: int) -> str:
    return f"attachments/{client_id}/{record_id}/{version}"


def file_context(record_id: uuid.UUID, version: int) -> str:
    return f"attachments.file:{record_id}:{version}"


def check(data: bytes, claimed: str, limit: int) -> str:
    """Refuse what is too large, of a type we do not take, or not what it claims to be; the real type."""
    if len(data) > limit:
        raise AttachmentTooLarge(f"An attachment may be at most {limit} bytes.", details=[{"limit": limit}])
    if claimed not in SIGNATURES:
        raise AttachmentRefused(f"Attachments are {', '.join(SIGNATURES)}.", details=[{"claimed": claimed}])
    found = sniff(data)
    if found != claimed:
        raise AttachmentRefused(f"The file is not {claimed}: its content says {found or 'something else'}.",
                                code="attachment_type_mismatch", details=[{"claimed": claimed, "found": found}])
    return found


async def upload(db: Database, blobs: BlobStore, actor: Actor, filename: str, claimed: str, data: bytes,
                 limit: int) -> service.Shown:
    """Add a file to the client's own record: checked, sealed, stored; nothing is kept if any step fails."""
    kind = check(data, claimed, limit)
    record_id = uuid.uuid4()
    sealer = await db.keys.sealer_for(db, actor.user_id)
    key = blob_key(actor.user_id, record_id, 1)
    await blobs.put(key, sealer.seal(data, file_context(record_id, 1)))
    body: dict[str, Any] = {"filename": filename, "content_type": kind, "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()}
    try:
        return await service.add_own(db, actor, "attachment", body, record_id=record_id, sealer=sealer)
    except BaseException:
        await blobs.delete(key)
        raise


async def download(db: Database, blobs: BlobStore, actor: Actor, record_id: uuid.UUID) -> tuple[dict[str, Any], bytes]:
    """The file of an attachment (its description and bytes) for whoever may read it (audited as a read of the
    record)."""
    shown = await service.read(db, actor, record_id)
    if shown.meta.kind != "attachment":
        raise NotFound("attachment")
    sealed = await blobs.get(blob_key(shown.meta.client_id, record_id, shown.version.version))
    if sealed is None:
        raise NotFound("attachment file")
    sealer = await db.keys.sealer_for(db, shown.meta.client_id)
    return shown.version.body, sealer.open(sealed, file_context(record_id, shown.version.version))


async def forget_files(blobs: BlobStore, files: list[tuple[uuid.UUID, uuid.UUID, int]]) -> None:
    """Delete the blobs of (client, record, version) triples (an erasure's attachments)."""
    for client_id, record_id, version in files:
        await blobs.delete(blob_key(client_id, record_id, version))


async def files_of(db: Database, client_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
    return [(client_id, r, v) for r, v in await store.attachment_versions(db, client_id)]
