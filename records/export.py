"""The GDPR export (art. 15 and 20): everything about one person as a zip (export.json, plus their attachment
files), built by the durable job `records.export` and downloaded through an expiring link.

What it holds: the profile, every booking they took part in, every message of their conversations, their
records (history entries and the session notes about them that are not private), the consents they gave or
received, their notifications, and the audit entries about them.
"""

from __future__ import annotations

import io
import secrets
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from storage import accounts, exports
from storage import records as store
from storage.blobs import BlobStore
from storage.database import Database
from storage.jobs import Job
from storage.keyring import Shredded

from . import attachments

LINK_TTL = timedelta(hours=24)


async def request(db: Database, user_id: uuid.UUID, now: datetime) -> tuple[exports.Export, bool]:
    """The person's current export, or a new one queued; (export, True if new)."""
    sealer = await db.keys.sealer_for(db, user_id)
    existing = await exports.current(db, sealer, user_id, now)
    if existing is not None:
        return existing, False
    return await exports.request(db, sealer, user_id, secrets.token_urlsafe(32), now), True


async def gather(db: Database, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything about the person, as one JSON-ready document."""
    user = await accounts.get_user(db, user_id)
    metas = [m for m in await store.of_client(db, user_id, ["history", "note", "intake", "attachment"]) if not m.private]
    record_items = []
    sealer = await db.keys.sealer_for(db, user_id) if metas else None
    for meta in metas:
        assert sealer is not None
        versions = await store.versions(db, sealer, meta.id)
        record_items.append({
            "id": str(meta.id), "kind": meta.kind, "author_id": str(meta.author_id),
            "booking_id": None if meta.booking_id is None else str(meta.booking_id),
            "template_id": None if meta.template_id is None else str(meta.template_id),
            "template_version": meta.template_version,
            "versions": [{"version": v.version, "author_id": str(v.author_id), "body": v.body,
                          "created_at": v.created_at.isoformat()} for v in versions],
        })
    return {
        "format": "klear-export-v1",
        "profile": {"id": str(user.id), "email": user.email, "display_name": user.display_name, "role": user.role,
                    "time_zone": user.time_zone, "created_at": user.created_at.isoformat()},
        "bookings": await exports.bookings_of(db, user_id),
        "messages": await exports.messages_of(db, user_id),
        "records": record_items,
        "consents": await exports.consents_of(db, user_id),
        "notifications": await exports.notifications_of(db, user_id),
        "audit": await exports.audit_about(db, user_id),
    }


async def attachment_files(db: Database, blobs: BlobStore, user_id: uuid.UUID,
                           document: dict[str, Any]) -> dict[str, bytes]:
    """The files of the person's attachments, opened, by their path in the archive."""
    files: dict[str, bytes] = {}
    for record in document["records"]:
        if record["kind"] != "attachment":
            continue
        for v in record["versions"]:
            record_id = uuid.UUID(record["id"])
            sealed = await blobs.get(attachments.blob_key(user_id, record_id, v["version"]))
            if sealed is not None:
                sealer = await db.keys.sealer_for(db, user_id)
                files[f"attachments/{record_id}/{v['version']}{_EXTENSION.get(v['body']['content_type'], '')}"] = (
                    sealer.open(sealed, attachments.file_context(record_id, v["version"])))
    return files


_EXTENSION = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def archive(document: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """The zip: export.json, and each attachment (already compressed formats are stored as they are)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export.json", exports.to_json(document))
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path), data, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def handler(db: Database, blobs: BlobStore, now: Callable[[], datetime]) -> Callable[[Job], Awaitable[str]]:
    """The `records.export` job: build and store one export. Idempotent: a filled or erased export is skipped."""

    async def run(job: Job) -> str:
        export_id = uuid.UUID(job.payload["export_id"])
        owner = await exports.pending(db, export_id)
        if owner is None:
            return "skipped_done"
        try:
            sealer = await db.keys.sealer_for(db, owner)
            document = await gather(db, owner)
            built = archive(document, await attachment_files(db, blobs, owner, document))
        except Shredded:
            return "skipped_erased"
        return "built" if await exports.fill(db, sealer, export_id, built, now() + LINK_TTL) else "skipped_done"

    return run


async def download(db: Database, export_id: uuid.UUID, token: str, now: datetime) -> bytes | None:
    """The archive behind a link, or None if the link is wrong or expired (or the person was erased)."""
    found = await exports.download(db, export_id, token, now)
    if found is None:
        return None
    owner, sealed = found
    try:
        sealer = await db.keys.sealer_for(db, owner)
    except Shredded:
        return None
    return exports.open_archive(sealer, export_id, sealed)
