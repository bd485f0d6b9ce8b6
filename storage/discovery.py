"""Search SQL: the typo vocabulary, candidate practitioners filtered and scored, and the search row's refresh.

The score is computed here, in one statement, from the weights the caller
passes (discovery/ranking.py owns them and explains them); this module only
knows how to express them over `practitioner_search`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from .database import Database

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class Filters:
    """What a search keeps. Prices are in minor units; the offering conditions apply to one active offering."""

    groups: Sequence[str] | None  # tsquery texts, one per query word (see storage/functions/search_query.sql)
    config: str  # language tag whose stemmer reads the query
    modality: str | None = None
    language: str | None = None
    mode: str | None = None
    price_min: int | None = None
    price_max: int | None = None
    currency: str | None = None
    min_rating: float | None = None
    verified_only: bool = False
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    # (lat_min, lat_max, lon_min, lon_max) around the radius; longitudes None when the box spans them all
    box: tuple[float, float, float | None, float | None] | None = None


@dataclass(frozen=True, slots=True)
class Weights:
    text: float
    distance: float
    rating: float
    distance_scale_km: float
    prior_mean: float
    prior_weight: float


@dataclass(frozen=True, slots=True)
class Candidate:
    id: uuid.UUID
    text: float  # each factor in [0, 1]
    distance: float
    rating: float
    score: float  # the weighted sum of the three
    distance_km: float | None
    rating_count: int
    rating_average: float | None


async def vocabulary_near(db: Database, words: Sequence[str]) -> dict[str, list[str]]:
    """For each query word, the vocabulary words sharing a trigram with it and of similar length."""
    rows = await db.fetch(
        "discovery.vocabulary_near",
        """
        SELECT q.word AS asked, v.word
        FROM unnest($1::text[]) AS q (word)
        JOIN search_vocabulary v ON v.trigrams && word_trigrams(q.word)
         AND abs(char_length(v.word) - char_length(q.word)) <= 2
        """,
        list(words),
    )
    out: dict[str, list[str]] = {w: [] for w in words}
    for r in rows:
        out[r["asked"]].append(r["word"])
    return out


_DISTANCE = f"""
    CASE WHEN $13::float8 IS NULL OR s.latitude IS NULL THEN NULL ELSE
      2 * {EARTH_RADIUS_KM} * asin(sqrt(
        power(sin(radians(s.latitude - $13::float8) / 2), 2::float8)
        + cos(radians($13::float8)) * cos(radians(s.latitude)) * power(sin(radians(s.longitude - $14::float8) / 2), 2::float8))) END
"""

_SEARCH = f"""
WITH q AS (SELECT search_query(search_config(ARRAY[$2::text]), $1::text[]) AS tsq),
found AS (
  SELECT s.practitioner_id AS id, s.rating_count, s.rating_sum,
         CASE WHEN q.tsq IS NULL THEN 0 ELSE ts_rank_cd(s.document, q.tsq, 32) END AS text_f,
         {_DISTANCE} AS distance_km
  FROM practitioner_search s, q
  WHERE (q.tsq IS NULL OR s.document @@ q.tsq)  -- a query of stop words alone keeps everyone
    AND ($3::text IS NULL OR s.modalities @> ARRAY[$3::text])
    AND ($4::text IS NULL OR s.languages @> ARRAY[$4::text])
    AND ($9::float8 IS NULL OR (s.rating_count > 0 AND s.rating_sum::float8 / s.rating_count >= $9::float8))
    AND (NOT $10::boolean OR s.verified)
    AND ($16::float8 IS NULL OR (s.latitude BETWEEN $16::float8 AND $17::float8 AND ($18::float8 IS NULL OR s.longitude BETWEEN $18::float8 AND $19::float8)))
    AND ($5::text IS NULL OR s.modes @> ARRAY[$5::text])
    AND ($5::text IS NULL AND $6::bigint IS NULL AND $7::bigint IS NULL AND $8::text IS NULL OR EXISTS (
          SELECT 1 FROM offerings o WHERE o.practitioner_id = s.practitioner_id AND o.active
            AND ($5::text IS NULL OR o.mode = $5::text) AND ($6::bigint IS NULL OR o.price_minor >= $6::bigint)
            AND ($7::bigint IS NULL OR o.price_minor <= $7::bigint) AND ($8::text IS NULL OR o.currency = $8::text)))
),
scored AS (
  SELECT f.*,
         CASE WHEN f.distance_km IS NULL THEN 0 ELSE 1 / (1 + f.distance_km / $23::float8) END AS distance_f,
         ($24::float8 * $25::float8 + f.rating_sum) / ($25::float8 + f.rating_count) / 5 AS rating_f
  FROM found f
  WHERE $15::float8 IS NULL OR f.distance_km <= $15::float8
),
ranked AS (
  SELECT sc.*, $20::float8 * sc.text_f + $21::float8 * sc.distance_f + $22::float8 * sc.rating_f AS score FROM scored sc
)
SELECT r.* FROM ranked r
WHERE $11::float8 IS NULL OR r.score < $11::float8 OR (r.score = $11::float8 AND r.id > $12::uuid)
ORDER BY r.score DESC, r.id
LIMIT $26::integer
"""


async def candidates(
    db: Database, f: Filters, w: Weights, *, limit: int, before: tuple[float, uuid.UUID] | None,
) -> list[Candidate]:
    """Practitioners passing every filter, best score first; `before` is the (score, id) a page continues after."""
    box = f.box or (None, None, None, None)
    rows = await db.fetch(
        "discovery.candidates", _SEARCH,
        None if f.groups is None else list(f.groups), f.config, f.modality, f.language, f.mode, f.price_min,
        f.price_max, f.currency, f.min_rating, f.verified_only, None if before is None else before[0],
        None if before is None else before[1], f.latitude, f.longitude, f.radius_km, *box,
        w.text, w.distance, w.rating, w.distance_scale_km, w.prior_mean, w.prior_weight, limit,
    )
    return [_candidate(r) for r in rows]


def _candidate(r: asyncpg.Record) -> Candidate:
    count = r["rating_count"]
    return Candidate(
        id=r["id"], text=r["text_f"], distance=r["distance_f"], rating=r["rating_f"], score=r["score"],
        distance_km=r["distance_km"], rating_count=count,
        rating_average=None if count == 0 else r["rating_sum"] / count,
    )


async def page_by_id(db: Database, ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """The bench's reference: the same page's rows fetched by primary key alone."""
    return await db.fetch(
        "discovery.page_by_id", "SELECT * FROM practitioner_search WHERE practitioner_id = ANY ($1::uuid[])", list(ids),
    )


@dataclass(frozen=True, slots=True)
class Card:
    """What a search result shows of a practitioner besides its scores."""

    id: uuid.UUID
    display_name: str
    photo_url: str | None
    place: str | None
    modalities: list[str]
    languages: list[str]
    modes: list[str]
    verified: bool
    prices: list[tuple[int, str]]  # (price_minor, currency) of each active offering, cheapest first


async def cards(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Card]:
    rows = await db.fetch(
        "discovery.cards",
        """
        SELECT s.practitioner_id AS id, u.display_name, p.photo_url, p.place, s.modalities, s.languages, s.modes,
               s.verified,
               ARRAY(SELECT ROW(o.price_minor, o.currency) FROM offerings o
                     WHERE o.practitioner_id = s.practitioner_id AND o.active ORDER BY o.price_minor) AS prices
        FROM practitioner_search s JOIN practitioners p ON p.user_id = s.practitioner_id JOIN users u ON u.id = p.user_id
        WHERE s.practitioner_id = ANY ($1::uuid[])
        """,
        list(ids),
    )
    return {
        r["id"]: Card(r["id"], r["display_name"], r["photo_url"], r["place"], list(r["modalities"]), list(r["languages"]),
                      list(r["modes"]), r["verified"], [tuple(x) for x in r["prices"]])
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class Standing:
    """A practitioner's badge and rating aggregate."""

    verified: bool
    rating_count: int
    rating_sum: int


async def standing(db: Database, practitioner_id: uuid.UUID) -> Standing:
    row = await db.fetchrow(
        "discovery.standing",
        "SELECT verified, rating_count, rating_sum FROM practitioner_search WHERE practitioner_id = $1", practitioner_id,
    )
    return Standing(False, 0, 0) if row is None else Standing(row["verified"], row["rating_count"], row["rating_sum"])
