"""Intake questionnaires: a practitioner's JSON Schema templates, one row per version (questions, not answers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .database import Database


@dataclass(frozen=True, slots=True)
class Template:
    id: uuid.UUID
    practitioner_id: uuid.UUID
    version: int
    latest: int
    title: str
    schema: dict[str, Any]
    created_at: datetime


async def create(db: Database, practitioner_id: uuid.UUID, title: str, schema: dict[str, Any]) -> Template:
    template_id = uuid.uuid4()
    async with db.transaction("intake.create") as conn:
        await conn.execute("INSERT INTO intake_templates (id, practitioner_id) VALUES ($1, $2)", template_id, practitioner_id)
        at = await conn.fetchval(
            "INSERT INTO intake_template_versions (template_id, version, title, schema) VALUES ($1, 1, $2, $3) RETURNING created_at",
            template_id, title, schema)
    return Template(template_id, practitioner_id, 1, 1, title, schema, at)


async def revise(db: Database, template_id: uuid.UUID, practitioner_id: uuid.UUID, title: str,
                 schema: dict[str, Any]) -> Template | None:
    """A new version of the practitioner's template; answers given to older versions keep their version."""
    async with db.transaction("intake.revise") as conn:
        version = await conn.fetchval(
            """UPDATE intake_templates SET version = version + 1, updated_at = now()
               WHERE id = $1 AND practitioner_id = $2 RETURNING version""", template_id, practitioner_id)
        if version is None:
            return None
        at = await conn.fetchval(
            "INSERT INTO intake_template_versions (template_id, version, title, schema) VALUES ($1, $2, $3, $4) RETURNING created_at",
            template_id, version, title, schema)
    return Template(template_id, practitioner_id, version, version, title, schema, at)


async def get(db: Database, template_id: uuid.UUID, version: int | None) -> Template | None:
    """A template at `version` (None: its latest)."""
    row = await db.fetchrow(
        "intake.get",
        """SELECT t.id, t.practitioner_id, v.version, t.version AS latest, v.title, v.schema, v.created_at
           FROM intake_templates t JOIN intake_template_versions v ON v.template_id = t.id
           WHERE t.id = $1 AND v.version = coalesce($2, t.version)""",
        template_id, version,
    )
    return None if row is None else Template(**dict(row))
