"""GDPR exports: the request row, the job that fills it, and every query that gathers a person's data for it."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .bookings import CANCEL_REASON, DECLINE_REASON, NOTE, reason_author
from .crypto import Sealer
from .database import Database
from .jobs import NewJob, jobs_arg
from .messages import body_context
from .notifications import data_context

EXPORT_JOB = "records.export"


@dataclass(frozen=True, slots=True)
class Export:
    id: uuid.UUID
    user_id: uuid.UUID
    status: str  # queued, ready
    token: str
    size_bytes: int | None
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _export(sealer: Sealer, r: Any) -> Export:
    return Export(r["id"], r["user_id"], r["status"], sealer.open_text(r["token_sealed"], f"exports.token:{r['id']}"),
                  r["size_bytes"], r["created_at"], r["ready_at"], r["expires_at"])


_COLUMNS = "id, user_id, status, token_sealed, size_bytes, created_at, ready_at, expires_at"


async def current(db: Database, sealer: Sealer, user_id: uuid.UUID, now: datetime) -> Export | None:
    """The person's export still in progress, or ready and not expired."""
    row = await db.fetchrow(
        "exports.current",
        f"""SELECT {_COLUMNS} FROM exports WHERE user_id = $1 AND (status = 'queued' OR expires_at > $2)
            ORDER BY created_at DESC LIMIT 1""",
        user_id, now,
    )
    return None if row is None else _export(sealer, row)


async def request(db: Database, sealer: Sealer, user_id: uuid.UUID, token: str, now: datetime) -> Export:
    """Record a new export and queue its job, in one transaction."""
    export_id = uuid.uuid4()
    async with db.transaction("exports.request") as conn:
        row = await conn.fetchrow(
            f"""INSERT INTO exports (id, user_id, status, token_hash, token_sealed) VALUES ($1, $2, 'queued', $3, $4)
                RETURNING {_COLUMNS}""",
            export_id, user_id, token_hash(token), sealer.seal_text(token, f"exports.token:{export_id}"),
        )
        await conn.execute("SELECT enqueue_jobs($1::jsonb)", jobs_arg([NewJob(
            EXPORT_JOB, {"export_id": str(export_id)}, now, dedupe_key=f"export:{export_id}")]))
    return _export(sealer, row)


async def pending(db: Database, export_id: uuid.UUID) -> uuid.UUID | None:
    """The owner of a queued export (None: already filled, or gone with an erasure)."""
    row = await db.fetchrow("exports.pending", "SELECT user_id FROM exports WHERE id = $1 AND status = 'queued'",
                            export_id)
    return None if row is None else row["user_id"]


async def fill(db: Database, sealer: Sealer, export_id: uuid.UUID, archive: bytes, expires_at: datetime) -> bool:
    """Store the built archive; False if the export went meanwhile (erased) or was already filled."""
    tag = await db.execute(
        "exports.fill",
        """UPDATE exports SET status = 'ready', archive_sealed = $2, size_bytes = $3, ready_at = now(), expires_at = $4
           WHERE id = $1 AND status = 'queued'""",
        export_id, sealer.seal(archive, f"exports.archive:{export_id}"), len(archive), expires_at,
    )
    return tag.endswith(" 1")


async def download(db: Database, export_id: uuid.UUID, token: str, now: datetime) -> tuple[uuid.UUID, bytes] | None:
    """(owner, sealed archive) for a ready, unexpired export whose link token matches; else None."""
    row = await db.fetchrow(
        "exports.download",
        """SELECT user_id, archive_sealed FROM exports
           WHERE id = $1 AND token_hash = $2 AND status = 'ready' AND expires_at > $3""",
        export_id, token_hash(token), now,
    )
    return None if row is None else (row["user_id"], bytes(row["archive_sealed"]))


def open_archive(sealer: Sealer, export_id: uuid.UUID, sealed: bytes) -> bytes:
    return sealer.open(sealed, f"exports.archive:{export_id}")


# -- gathering ----------------------------------------------------------------------------------------------


def _plain(row: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v)
            for k, v in dict(row).items()}


async def bookings_of(db: Database, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every booking the person took part in, with its notes and reasons opened (they are about them), each with
    its author's key."""
    rows = await db.fetch(
        "exports.bookings_of",
        """SELECT b.id, b.practitioner_id, b.client_id, b.offering_id, o.name AS offering, b.status, b.mode,
                  b.start_at, b.end_at, b.price_minor, b.currency, b.created_at, b.cancelled_by, b.note_sealed,
                  b.cancel_reason_sealed, b.decline_reason_sealed
           FROM bookings b JOIN offerings o ON o.id = b.offering_id
           WHERE b.client_id = $1 OR b.practitioner_id = $1 ORDER BY b.start_at, b.id""",
        user_id,
    )

    def authors(r: Any) -> dict[str, uuid.UUID]:
        return {"note": r["client_id"],
                "cancel_reason": reason_author("cancelled", r["client_id"], r["practitioner_id"], r["cancelled_by"]),
                "decline_reason": r["practitioner_id"]}

    keys = await db.keys.sealers_for(db, [o for r in rows for o in authors(r).values()])
    out = []
    for r in rows:
        item = _plain({k: r[k] for k in r.keys() if not k.endswith("_sealed") and k != "cancelled_by"})
        for field, purpose in (("note", NOTE), ("cancel_reason", CANCEL_REASON), ("decline_reason", DECLINE_REASON)):
            item[field] = keys.open_text(authors(r)[field], r[f"{field}_sealed"], f"{purpose}:{r['id']}")
        out.append(item)
    return out


async def messages_of(db: Database, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every message in the person's conversations (what they can read), each opened with its sender's key; e2ee
    ones as the ciphertext the server holds, hex-encoded."""
    rows = await db.fetch(
        "exports.messages_of",
        """SELECT m.conversation_id, m.seq, m.id, m.sender_id, m.body_sealed, m.ciphertext, m.nonce, m.created_at,
                  m.edited_at, m.deleted_at
           FROM conversation_members c JOIN messages m ON m.conversation_id = c.conversation_id
           WHERE c.user_id = $1 ORDER BY m.conversation_id, m.seq""",
        user_id,
    )
    keys = await db.keys.sealers_for(db, {r["sender_id"] for r in rows if r["body_sealed"] is not None})
    out = []
    for r in rows:
        item = _plain({k: r[k] for k in ("conversation_id", "seq", "id", "sender_id", "created_at", "edited_at",
                                         "deleted_at")})
        item["body"] = keys.open_text(r["sender_id"], r["body_sealed"], body_context(r["id"]))
        item["ciphertext"] = None if r["ciphertext"] is None else bytes(r["ciphertext"]).hex()
        item["nonce"] = None if r["nonce"] is None else bytes(r["nonce"]).hex()
        out.append(item)
    return out


async def notifications_of(db: Database, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The person's notifications, their data opened with their key."""
    rows = await db.fetch(
        "exports.notifications_of",
        """SELECT id, kind, category, booking_id, data_sealed, created_at, read_at FROM notifications
           WHERE user_id = $1 ORDER BY created_at""",
        user_id,
    )
    keys = await db.keys.sealers_for(db, [user_id] if rows else [])
    out = []
    for r in rows:
        item = _plain({k: r[k] for k in r.keys() if k != "data_sealed"})
        opened = keys.open_text(user_id, r["data_sealed"], data_context(r["id"]))
        item["data"] = None if opened is None else json.loads(opened)
        out.append(item)
    return out


async def consents_of(db: Database, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "exports.consents_of",
        """SELECT id, client_id, practitioner_id, scopes, status, booking_id, expires_at, created_at, decided_at,
                  revoked_at FROM consent_grants WHERE client_id = $1 OR practitioner_id = $1 ORDER BY created_at""",
        user_id,
    )
    return [_plain(r) for r in rows]


async def audit_about(db: Database, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "exports.audit_about",
        """SELECT id, seq, at, actor_id, action, resource, reason, outcome, request_id FROM audit_log
           WHERE subject_id = $1 ORDER BY id""",
        user_id,
    )
    return [_plain(r) for r in rows]


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=1, ensure_ascii=False, default=str).encode()
