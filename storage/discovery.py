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


class _Params:
    """Positional parameters of one statement, each spliced as `$n::type` (values never enter the SQL text)."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object, sql_type: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}"


def _distance_sql(lat: str, lon: str) -> str:
    """Haversine on the mean Earth radius; discovery/ranking.py has the same formula for checks."""
    return f"""2 * {EARTH_RADIUS_KM} * asin(sqrt(
        power(sin(radians(s.latitude - {lat}) / 2), 2::float8)
        + cos(radians({lat})) * cos(radians(s.latitude)) * power(sin(radians(s.longitude - {lon}) / 2), 2::float8)))"""


def _search_sql(f: Filters, w: Weights, *, limit: int, before: tuple[float, uuid.UUID] | None) -> tuple[str, list[object]]:
    """The statement for these filters: only the conditions that apply, so each shape gets its own plan (a
    condition such as `$3 IS NULL OR ...` would keep a generic plan off the indexes)."""
    p = _Params()
    where, text, distance = [], "0::float8", "NULL::float8"
    ctes = ""
    if f.groups is not None:
        ctes = f"WITH q AS MATERIALIZED (SELECT search_query(search_config(ARRAY[{p(f.config, 'text')}]), {p(list(f.groups), 'text[]')}) AS tsq)"
        where.append("s.document @@ (SELECT tsq FROM q)")  # a query of stop words alone (NULL) matches nothing
        text = "ts_rank(s.document, (SELECT tsq FROM q), 32)"
    if f.modality is not None:
        where.append(f"s.modalities @> ARRAY[{p(f.modality, 'text')}]")
    if f.language is not None:
        where.append(f"s.languages @> ARRAY[{p(f.language, 'text')}]")
    if f.min_rating is not None:
        where.append(f"s.rating_count > 0 AND s.rating_sum::float8 / s.rating_count >= {p(f.min_rating, 'float8')}")
    if f.verified_only:
        where.append("s.verified")
    if f.latitude is not None and f.longitude is not None:
        distance = f"CASE WHEN s.latitude IS NULL THEN NULL ELSE {_distance_sql(p(f.latitude, 'float8'), p(f.longitude, 'float8'))} END"
    if f.box is not None:
        lat_min, lat_max, lon_min, lon_max = f.box
        where.append(f"s.latitude BETWEEN {p(lat_min, 'float8')} AND {p(lat_max, 'float8')}")
        if lon_min is not None and lon_max is not None:
            where.append(f"s.longitude BETWEEN {p(lon_min, 'float8')} AND {p(lon_max, 'float8')}")
    if f.mode is not None:
        where.append(f"s.modes @> ARRAY[{p(f.mode, 'text')}]")
    offering = []
    if f.mode is not None:
        offering.append(f"o.mode = {p(f.mode, 'text')}")
    if f.price_min is not None:
        offering.append(f"o.price_minor >= {p(f.price_min, 'bigint')}")
    if f.price_max is not None:
        offering.append(f"o.price_minor <= {p(f.price_max, 'bigint')}")
    if f.currency is not None:
        offering.append(f"o.currency = {p(f.currency, 'text')}")
    if offering:
        where.append(f"EXISTS (SELECT 1 FROM offerings o WHERE o.practitioner_id = s.practitioner_id AND o.active AND {' AND '.join(offering)})")
    radius = "" if f.radius_km is None else f"WHERE f.distance_km <= {p(f.radius_km, 'float8')}"
    scale, mean, weight = p(w.distance_scale_km, "float8"), p(w.prior_mean, "float8"), p(w.prior_weight, "float8")
    after = ""
    if before is not None:
        score, pid = p(before[0], "float8"), p(before[1], "uuid")
        after = f"WHERE r.score < {score} OR (r.score = {score} AND r.id > {pid})"
    sql = f"""
{ctes}
SELECT r.* FROM (
  SELECT sc.*, {p(w.text, 'float8')} * sc.text_f + {p(w.distance, 'float8')} * sc.distance_f
               + {p(w.rating, 'float8')} * sc.rating_f AS score
  FROM (
    SELECT f.*, CASE WHEN f.distance_km IS NULL THEN 0 ELSE 1 / (1 + f.distance_km / {scale}) END AS distance_f,
           ({mean} * {weight} + f.rating_sum) / ({weight} + f.rating_count) / 5 AS rating_f
    FROM (
      SELECT s.practitioner_id AS id, s.rating_count, s.rating_sum, {text} AS text_f, {distance} AS distance_km
      FROM practitioner_search s
      {"WHERE " + " AND ".join(where) if where else ""}
      OFFSET 0  -- a fence: the rank is computed once per row, not again in each expression that uses it
    ) f {radius}
  ) sc
) r {after}
ORDER BY r.score DESC, r.id
LIMIT {p(limit, 'integer')}"""
    return sql, p.values


async def candidates(
    db: Database, f: Filters, w: Weights, *, limit: int, before: tuple[float, uuid.UUID] | None,
) -> list[Candidate]:
    """Practitioners passing every filter, best score first; `before` is the (score, id) a page continues after."""
    sql, args = _search_sql(f, w, limit=limit, before=before)
    rows = await db.fetch("discovery.candidates", sql, *args)
    return [_candidate(r) for r in rows]


def _candidate(r: asyncpg.Record) -> Candidate:
    count = r["rating_count"]
    return Candidate(
        id=r["id"], text=r["text_f"], distance=r["distance_f"], rating=r["rating_f"], score=r["score"],
        distance_km=r["distance_km"], rating_count=count,
        rating_average=None if count == 0 else r["rating_sum"] / count,
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


async def rebuild_all(db: Database, *, batch: int = 1000) -> int:
    """Refresh every practitioner's search row, a batch per transaction; the number refreshed."""
    done, after = 0, uuid.UUID(int=0)
    while True:
        async with db.transaction("discovery.rebuild_all") as conn:
            ids = await conn.fetch(
                """SELECT practitioner_search_refresh(user_id), user_id FROM
                   (SELECT user_id FROM practitioners WHERE user_id > $1 ORDER BY user_id LIMIT $2) p""",
                after, batch,
            )
        if not ids:
            return done
        done += len(ids)
        after = ids[-1]["user_id"]
