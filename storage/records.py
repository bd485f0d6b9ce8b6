"""Health records: history entries and session notes, versioned, each version sealed with the client's data key.

The caller passes the client's `Sealer` (storage.keyring); deciding who may read or write is the records
package's job, not this module's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .crypto import Sealer
from .database import Database, require


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What may be known about a record without opening it."""

    id: uuid.UUID
    client_id: uuid.UUID
    author_id: uuid.UUID
    kind: str  # history, note, intake, attachment
    booking_id: uuid.UUID | None
    private: bool
    version: int
    created_at: datetime
    updated_at: datetime
    template_id: uuid.UUID | None = None  # intake answers: the questionnaire answered, at which version
    template_version: int | None = None


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    author_id: uuid.UUID
    body: dict[str, Any]
    created_at: datetime


def _context(record_id: uuid.UUID, version: int) -> str:
    return f"health_record_versions.body:{record_id}:{version}"


def _seal(sealer: Sealer, record_id: uuid.UUID, version: int, body: dict[str, Any]) -> bytes:
    return sealer.seal(json.dumps(body, separators=(",", ":")).encode(), _context(record_id, version))


def _open(sealer: Sealer, record_id: uuid.UUID, version: int, sealed: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sealer.open(sealed, _context(record_id, version)))
    return body


_FIELDS = ("id", "client_id", "author_id", "kind", "booking_id", "private", "version", "created_at", "updated_at",
           "template_id", "template_version")
_META = ", ".join(f"r.{f}" for f in _FIELDS)


def _meta(row: asyncpg.Record) -> RecordMeta:
    return RecordMeta(*(row[k] for k in _FIELDS))


async def create(
    db: Database, sealer: Sealer, *, client_id: uuid.UUID, author_id: uuid.UUID, kind: str,
    booking_id: uuid.UUID | None, private: bool, body: dict[str, Any], template: tuple[uuid.UUID, int] | None = None,
    record_id: uuid.UUID | None = None,
) -> tuple[RecordMeta, Version]:
    """Write a new record and its first version (`record_id`: chosen by a caller that stored a blob under it)."""
    record_id = record_id or uuid.uuid4()
    async with db.transaction("records.create") as conn:
        row = await conn.fetchrow(
            f"""INSERT INTO health_records AS r (id, client_id, author_id, kind, booking_id, private, template_id,
                                                 template_version)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_META}""",
            record_id, client_id, author_id, kind, booking_id, private, *(template or (None, None)),
        )
        at = await conn.fetchval(
            """INSERT INTO health_record_versions (record_id, version, author_id, body_sealed) VALUES ($1, 1, $2, $3)
               RETURNING created_at""",
            record_id, author_id, _seal(sealer, record_id, 1, body),
        )
    return _meta(require(row, "record")), Version(1, author_id, body, at)


async def revise(
    db: Database, sealer: Sealer, record_id: uuid.UUID, *, author_id: uuid.UUID, body: dict[str, Any],
    private: bool | None,
) -> tuple[RecordMeta, Version]:
    """Add the next version of a record (the previous ones stay)."""
    async with db.transaction("records.revise") as conn:
        row = await conn.fetchrow(
            f"""UPDATE health_records AS r SET version = version + 1, updated_at = now(),
                       private = coalesce($2, private)
                WHERE id = $1 RETURNING {_META}""",
            record_id, private,
        )
        meta = _meta(require(row, "record"))
        at = await conn.fetchval(
            """INSERT INTO health_record_versions (record_id, version, author_id, body_sealed) VALUES ($1, $2, $3, $4)
               RETURNING created_at""",
            record_id, meta.version, author_id, _seal(sealer, record_id, meta.version, body),
        )
    return meta, Version(meta.version, author_id, body, at)


async def meta(db: Database, record_id: uuid.UUID) -> RecordMeta | None:
    row = await db.fetchrow("records.meta", f"SELECT {_META} FROM health_records r WHERE r.id = $1", record_id)
    return None if row is None else _meta(row)


async def of_client(db: Database, client_id: uuid.UUID, kinds: list[str]) -> list[RecordMeta]:
    """The client's records of `kinds`, oldest first."""
    rows = await db.fetch(
        "records.of_client",
        f"SELECT {_META} FROM health_records r WHERE r.client_id = $1 AND r.kind = ANY($2::text[]) ORDER BY r.created_at, r.id",
        client_id, kinds,
    )
    return [_meta(r) for r in rows]


async def latest(db: Database, sealer: Sealer, records: list[RecordMeta]) -> dict[uuid.UUID, Version]:
    """The current version of each of `records` (all of one client, opened with `sealer`)."""
    if not records:
        return {}
    rows = await db.fetch(
        "records.latest",
        """SELECT v.record_id, v.version, v.author_id, v.body_sealed, v.created_at
           FROM health_records r JOIN health_record_versions v ON v.record_id = r.id AND v.version = r.version
           WHERE r.id = ANY($1::uuid[])""",
        [m.id for m in records],
    )
    return {r["record_id"]: Version(r["version"], r["author_id"], _open(sealer, r["record_id"], r["version"], r["body_sealed"]),
                                    r["created_at"]) for r in rows}


async def versions(db: Database, sealer: Sealer, record_id: uuid.UUID) -> list[Version]:
    """Every version of a record, oldest first."""
    rows = await db.fetch(
        "records.versions",
        "SELECT version, author_id, body_sealed, created_at FROM health_record_versions WHERE record_id = $1 ORDER BY version",
        record_id,
    )
    return [Version(r["version"], r["author_id"], _open(sealer, record_id, r["version"], r["body_sealed"]), r["created_at"])
            for r in rows]


async def attachment_versions(db: Database, client_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    """(record id, version) of every attachment version of a client: the blobs an erasure deletes."""
    rows = await db.fetch(
        "records.attachment_versions",
        """SELECT v.record_id, v.version FROM health_records r JOIN health_record_versions v ON v.record_id = r.id
           WHERE r.client_id = $1 AND r.kind = 'attachment'""",
        client_id,
    )
    return [(r["record_id"], r["version"]) for r in rows]
