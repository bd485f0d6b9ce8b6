"""Practitioner profiles (with their booking rules) and offerings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .database import Database, require


@dataclass(frozen=True, slots=True)
class Rules:
    """How a practitioner can be booked; durations in minutes."""

    buffer_before_min: int
    buffer_after_min: int
    min_notice_min: int
    horizon_days: int
    max_per_day: int | None
    slot_interval_min: int
    request_ttl_min: int


@dataclass(frozen=True, slots=True)
class Location:
    """Where a practitioner sees clients in person: a point and the place's name shown to clients."""

    latitude: float
    longitude: float
    place: str


@dataclass(frozen=True, slots=True)
class Practitioner:
    user_id: uuid.UUID
    display_name: str
    bio: str
    modalities: tuple[str, ...]
    languages: tuple[str, ...]
    time_zone: str
    rules: Rules
    created_at: datetime
    updated_at: datetime
    location: Location | None = None
    photo_url: str | None = None
    show_available_now: bool = False  # their choice to show clients the live "available now" marker


@dataclass(frozen=True, slots=True)
class Offering:
    id: uuid.UUID
    practitioner_id: uuid.UUID
    name: str
    description: str
    duration_min: int
    price_minor: int
    currency: str
    mode: str
    address: str | None
    needs_approval: bool
    late_cancel_min: int
    active: bool
    created_at: datetime
    updated_at: datetime
    capacity: int  # places per session: 1 for one-to-one, more for a class


RULE_FIELDS = tuple(Rules.__dataclass_fields__)
OFFERING_FIELDS = tuple(Offering.__dataclass_fields__)
PRACTITIONER_COLUMNS = (
    "p.user_id, u.display_name, p.bio, p.modalities, p.languages, p.time_zone, "
    + ", ".join(f"p.{f}" for f in RULE_FIELDS)
    + ", p.created_at, p.updated_at, p.latitude, p.longitude, p.place, p.photo_url, p.show_available_now"
)
OFFERING_COLUMNS = ", ".join(f"o.{f}" for f in OFFERING_FIELDS)
EDITABLE_OFFERING_FIELDS = frozenset(OFFERING_FIELDS) - {"id", "practitioner_id", "created_at", "updated_at"}


def practitioner_from(row: asyncpg.Record) -> Practitioner:
    return Practitioner(
        user_id=row["user_id"], display_name=row["display_name"], bio=row["bio"],
        modalities=tuple(row["modalities"]), languages=tuple(row["languages"]), time_zone=row["time_zone"],
        rules=Rules(*(row[f] for f in RULE_FIELDS)), created_at=row["created_at"], updated_at=row["updated_at"],
        location=None if row["latitude"] is None else Location(row["latitude"], row["longitude"], row["place"] or ""),
        photo_url=row["photo_url"], show_available_now=row["show_available_now"],
    )


def offering_from(row: asyncpg.Record | tuple[Any, ...]) -> Offering:
    """From a record, or from a ROW(...) of OFFERING_COLUMNS (decoded as a tuple)."""
    if isinstance(row, tuple):
        return Offering(*row)
    return Offering(*(row[f] for f in OFFERING_FIELDS))


async def save_profile(
    db: Database, user_id: uuid.UUID, *, bio: str, modalities: Sequence[str], languages: Sequence[str],
    time_zone: str, rules: Rules, location: Location | None = None, photo_url: str | None = None,
    show_available_now: bool = False,
) -> Practitioner:
    """Create or replace the profile of practitioner `user_id`, and its search row with it."""
    values = [getattr(rules, f) for f in RULE_FIELDS]
    placeholders = ", ".join(f"${i}" for i in range(11, 11 + len(RULE_FIELDS)))
    async with db.transaction("practitioners.save_profile") as conn:
        row = await conn.fetchrow(
            f"""
            WITH saved AS (
                INSERT INTO practitioners AS p (user_id, bio, modalities, languages, time_zone, latitude, longitude,
                                                place, photo_url, show_available_now, {", ".join(RULE_FIELDS)})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {placeholders})
                ON CONFLICT (user_id) DO UPDATE SET
                    bio = EXCLUDED.bio, modalities = EXCLUDED.modalities, languages = EXCLUDED.languages,
                    time_zone = EXCLUDED.time_zone, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                    place = EXCLUDED.place, photo_url = EXCLUDED.photo_url,
                    show_available_now = EXCLUDED.show_available_now,
                    {", ".join(f"{f} = EXCLUDED.{f}" for f in RULE_FIELDS)}, updated_at = now()
                RETURNING p.*
            )
            SELECT {PRACTITIONER_COLUMNS} FROM saved p JOIN users u ON u.id = p.user_id
            """,
            user_id, bio, list(modalities), list(languages), time_zone,
            None if location is None else location.latitude, None if location is None else location.longitude,
            None if location is None else location.place, photo_url, show_available_now, *values,
        )
        await refresh_search(conn, user_id)
    return practitioner_from(require(row, "practitioner"))


async def refresh_search(conn: asyncpg.Connection, practitioner_id: uuid.UUID) -> None:
    """Rebuild the practitioner's search row (storage/functions/practitioner_search_refresh.sql) in the caller's
    transaction, so search never shows a profile other than the committed one."""
    await conn.execute("SELECT practitioner_search_refresh($1)", practitioner_id)


async def get(db: Database, user_id: uuid.UUID) -> Practitioner | None:
    row = await db.fetchrow(
        "practitioners.get",
        f"SELECT {PRACTITIONER_COLUMNS} FROM practitioners p JOIN users u ON u.id = p.user_id WHERE p.user_id = $1",
        user_id,
    )
    return None if row is None else practitioner_from(row)


async def search(
    db: Database, *, modality: str | None, language: str | None, limit: int, after: uuid.UUID | None
) -> list[Practitioner]:
    """Practitioners offering `modality` and speaking `language` (either may be None), by id, after `after`."""
    rows = await db.fetch(
        "practitioners.search",
        f"""
        SELECT {PRACTITIONER_COLUMNS} FROM practitioners p JOIN users u ON u.id = p.user_id
        WHERE u.erased_at IS NULL AND ($1::text IS NULL OR p.modalities @> ARRAY[$1::text])
          AND ($2::text IS NULL OR p.languages @> ARRAY[$2::text])
          AND ($3::uuid IS NULL OR p.user_id > $3)
        ORDER BY p.user_id LIMIT $4
        """,
        modality, language, after, limit,
    )
    return [practitioner_from(r) for r in rows]


def _check_editable(fields: dict[str, Any]) -> None:
    # Column names are spliced into SQL, so only known ones are accepted.
    unknown = set(fields) - EDITABLE_OFFERING_FIELDS
    if unknown:
        raise ValueError(f"not editable offering fields: {sorted(unknown)}")


async def create_offering(db: Database, practitioner_id: uuid.UUID, fields: dict[str, Any]) -> Offering:
    """Add an offering; `fields` are among EDITABLE_OFFERING_FIELDS."""
    _check_editable(fields)
    names = list(fields)
    async with db.transaction("practitioners.create_offering") as conn:
        row = await conn.fetchrow(
            f"""
            INSERT INTO offerings AS o (id, practitioner_id, {", ".join(names)})
            VALUES ($1, $2, {", ".join(f"${i}" for i in range(3, 3 + len(names)))})
            RETURNING {OFFERING_COLUMNS}
            """,
            uuid.uuid4(), practitioner_id, *fields.values(),
        )
        await refresh_search(conn, practitioner_id)
    return offering_from(require(row, "offering"))


async def update_offering(
    db: Database, practitioner_id: uuid.UUID, offering_id: uuid.UUID, changes: dict[str, Any]
) -> Offering | None:
    """Change fields of one of the practitioner's offerings; None if they have no such offering."""
    _check_editable(changes)
    names = list(changes)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=3))
    async with db.transaction("practitioners.update_offering") as conn:
        row = await conn.fetchrow(
            f"""
            UPDATE offerings AS o SET {sets}{", " if sets else ""}updated_at = now()
            WHERE o.id = $1 AND o.practitioner_id = $2 RETURNING {OFFERING_COLUMNS}
            """,
            offering_id, practitioner_id, *changes.values(),
        )
        if row is not None:
            await refresh_search(conn, practitioner_id)
    return None if row is None else offering_from(row)


async def offerings_of(db: Database, practitioner_id: uuid.UUID, *, include_archived: bool) -> list[Offering]:
    rows = await db.fetch(
        "practitioners.offerings_of",
        f"""SELECT {OFFERING_COLUMNS} FROM offerings o
            WHERE o.practitioner_id = $1 AND (o.active OR $2) ORDER BY o.created_at, o.id""",
        practitioner_id, include_archived,
    )
    return [offering_from(r) for r in rows]


async def active_offerings_of_many(db: Database, practitioner_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Offering]]:
    """The active offerings of several practitioners at once, by practitioner."""
    rows = await db.fetch(
        "practitioners.active_offerings_of_many",
        f"""SELECT {OFFERING_COLUMNS} FROM offerings o
            WHERE o.practitioner_id = ANY ($1::uuid[]) AND o.active ORDER BY o.created_at, o.id""",
        practitioner_ids,
    )
    out: dict[uuid.UUID, list[Offering]] = {}
    for r in rows:
        out.setdefault(r["practitioner_id"], []).append(offering_from(r))
    return out
