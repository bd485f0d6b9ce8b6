"""Recommendation SQL: item-to-item similarity from booking history, content-based neighbours, blocks and reports.

Similarity is the cosine of two practitioners' client sets (clients with a
booking that was confirmed, in session or completed): shared clients /
sqrt(clients of one x clients of the other). The job rebuilds the whole table
in one transaction, so readers see the previous set or the new one.

Every reader leaves out the viewer, the practitioner asked about, and anyone
the viewer blocked or reported.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from .database import Database

NEIGHBOURS = 20
_BOOKED = "('confirmed', 'in_session', 'completed')"
_HIDDEN_FROM = """
    NOT EXISTS (SELECT 1 FROM user_blocks k WHERE k.user_id = {viewer} AND k.blocked_id = {who})
    AND NOT EXISTS (SELECT 1 FROM user_reports r WHERE r.reporter_id = {viewer} AND r.reported_id = {who})
    AND {who} <> {viewer}"""


@dataclass(frozen=True, slots=True)
class Pick:
    id: uuid.UUID
    score: float
    reason: str  # booked_together | similar_profile | well_rated


async def compute_similarity(db: Database, now: datetime) -> int:
    """Rebuild the similarity table from booking history; the number of pairs kept."""
    async with db.transaction("recommendations.compute_similarity") as conn:
        await conn.execute("DELETE FROM practitioner_similarity")
        tag = await conn.execute(
            f"""
            WITH pairs AS (SELECT DISTINCT client_id, practitioner_id FROM bookings WHERE status IN {_BOOKED}),
            sizes AS (SELECT practitioner_id, count(*) AS n FROM pairs GROUP BY practitioner_id),
            shared AS (
                SELECT a.practitioner_id AS p, b.practitioner_id AS q, count(*) AS c
                FROM pairs a JOIN pairs b ON b.client_id = a.client_id AND b.practitioner_id <> a.practitioner_id
                GROUP BY 1, 2),
            ranked AS (
                SELECT s.p, s.q, s.c, s.c / sqrt(x.n * y.n::float8) AS score,
                       row_number() OVER (PARTITION BY s.p ORDER BY s.c / sqrt(x.n * y.n::float8) DESC, s.q) AS k
                FROM shared s JOIN sizes x ON x.practitioner_id = s.p JOIN sizes y ON y.practitioner_id = s.q)
            INSERT INTO practitioner_similarity (practitioner_id, similar_id, score, shared_clients, computed_at)
            SELECT p, q, least(score, 1), c, $1 FROM ranked WHERE k <= {NEIGHBOURS}
            """,
            now,
        )
    return int(tag.split()[-1])


async def similar_by_bookings(db: Database, practitioner_id: uuid.UUID, viewer: uuid.UUID, limit: int) -> list[Pick]:
    rows = await db.fetch(
        "recommendations.similar_by_bookings",
        f"""SELECT s.similar_id AS id, s.score FROM practitioner_similarity s
            WHERE s.practitioner_id = $1 AND {_HIDDEN_FROM.format(viewer="$2::uuid", who="s.similar_id")}
            ORDER BY s.score DESC, s.similar_id LIMIT $3""",
        practitioner_id, viewer, limit,
    )
    return [Pick(r["id"], r["score"], "booked_together") for r in rows]


_CONTENT_SCORE = """
    (2 * cardinality(ARRAY(SELECT unnest(c.modalities) INTERSECT SELECT unnest($1::text[])))
     + cardinality(ARRAY(SELECT unnest(c.languages) INTERSECT SELECT unnest($2::text[])))
     + cardinality(ARRAY(SELECT unnest(c.modes) INTERSECT SELECT unnest($3::text[])))
     + CASE WHEN p.place IS NOT NULL AND p.place = ANY ($4::text[]) THEN 1 ELSE 0 END)::float8
    / (2 * greatest(cardinality($1::text[]), 1) + greatest(cardinality($2::text[]), 1)
       + greatest(cardinality($3::text[]), 1) + 1)"""


async def similar_by_profile(
    db: Database, *, modalities: list[str], languages: list[str], modes: list[str], places: list[str],
    viewer: uuid.UUID, exclude: list[uuid.UUID], limit: int,
) -> list[Pick]:
    """Practitioners sharing modalities (at least one), languages, modes and places with the given profile, the
    most alike first, then the best rated."""
    rows = await db.fetch(
        "recommendations.similar_by_profile",
        f"""SELECT c.practitioner_id AS id, {_CONTENT_SCORE} AS score
            FROM practitioner_search c JOIN practitioners p ON p.user_id = c.practitioner_id
            WHERE c.modalities && $1::text[] AND c.practitioner_id <> ALL ($6::uuid[])
              AND {_HIDDEN_FROM.format(viewer="$5::uuid", who="c.practitioner_id")}
            ORDER BY score DESC, (20 + c.rating_sum)::float8 / (5 + c.rating_count) DESC, c.practitioner_id LIMIT $7""",
        modalities, languages, modes, places, viewer, exclude, limit,
    )
    return [Pick(r["id"], r["score"], "similar_profile") for r in rows]


@dataclass(frozen=True, slots=True)
class Taste:
    """What a client's bookings say about them: whom they booked and those practitioners' profiles, merged."""

    booked: list[uuid.UUID]
    modalities: list[str]
    languages: list[str]
    modes: list[str]
    places: list[str]


async def taste(db: Database, client_id: uuid.UUID) -> Taste:
    row = await db.fetchrow(
        "recommendations.taste",
        f"""
        WITH mine AS (SELECT DISTINCT practitioner_id FROM bookings WHERE client_id = $1 AND status IN {_BOOKED})
        SELECT ARRAY(SELECT practitioner_id FROM mine) AS booked,
               ARRAY(SELECT DISTINCT unnest(s.modalities) FROM practitioner_search s JOIN mine USING (practitioner_id)) AS modalities,
               ARRAY(SELECT DISTINCT unnest(s.languages) FROM practitioner_search s JOIN mine USING (practitioner_id)) AS languages,
               ARRAY(SELECT DISTINCT unnest(s.modes) FROM practitioner_search s JOIN mine USING (practitioner_id)) AS modes,
               ARRAY(SELECT DISTINCT p.place FROM practitioners p JOIN mine ON mine.practitioner_id = p.user_id
                     WHERE p.place IS NOT NULL) AS places
        """,
        client_id,
    )
    assert row is not None
    return Taste(list(row["booked"]), list(row["modalities"]), list(row["languages"]), list(row["modes"]), list(row["places"]))


async def for_client_by_bookings(db: Database, client_id: uuid.UUID, booked: list[uuid.UUID], limit: int) -> list[Pick]:
    """Neighbours of the practitioners the client booked, by summed similarity, leaving out those booked."""
    rows = await db.fetch(
        "recommendations.for_client_by_bookings",
        f"""SELECT s.similar_id AS id, least(sum(s.score), 1) AS score FROM practitioner_similarity s
            WHERE s.practitioner_id = ANY ($2::uuid[]) AND s.similar_id <> ALL ($2::uuid[])
              AND {_HIDDEN_FROM.format(viewer="$1::uuid", who="s.similar_id")}
            GROUP BY s.similar_id ORDER BY sum(s.score) DESC, s.similar_id LIMIT $3""",
        client_id, booked, limit,
    )
    return [Pick(r["id"], r["score"], "booked_together") for r in rows]


async def well_rated(db: Database, viewer: uuid.UUID, exclude: list[uuid.UUID], limit: int) -> list[Pick]:
    """For someone with no history: the best Bayesian ratings."""
    rows = await db.fetch(
        "recommendations.well_rated",
        f"""SELECT c.practitioner_id AS id, (20 + c.rating_sum)::float8 / (5 + c.rating_count) / 5 AS score
            FROM practitioner_search c
            WHERE c.practitioner_id <> ALL ($2::uuid[]) AND {_HIDDEN_FROM.format(viewer="$1::uuid", who="c.practitioner_id")}
            ORDER BY score DESC, c.practitioner_id LIMIT $3""",
        viewer, exclude, limit,
    )
    return [Pick(r["id"], r["score"], "well_rated") for r in rows]


async def block(db: Database, user_id: uuid.UUID, blocked_id: uuid.UUID) -> None:
    await db.execute(
        "recommendations.block",
        "INSERT INTO user_blocks (user_id, blocked_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", user_id, blocked_id,
    )


async def unblock(db: Database, user_id: uuid.UUID, blocked_id: uuid.UUID) -> None:
    await db.execute("recommendations.unblock", "DELETE FROM user_blocks WHERE user_id = $1 AND blocked_id = $2",
                     user_id, blocked_id)


async def report(db: Database, reporter_id: uuid.UUID, reported_id: uuid.UUID, reason: str) -> bool:
    """False if this person already reported that account."""
    tag = await db.execute(
        "recommendations.report",
        """INSERT INTO user_reports (id, reporter_id, reported_id, reason) VALUES ($1, $2, $3, $4)
           ON CONFLICT (reporter_id, reported_id) DO NOTHING""",
        uuid.uuid4(), reporter_id, reported_id, reason,
    )
    return tag.endswith(" 1")
