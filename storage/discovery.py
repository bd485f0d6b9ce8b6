"""Search SQL: the typo vocabulary, candidate practitioners filtered and scored, and the search row's refresh.

The score is computed here, in one statement, from the weights the caller
passes (discovery/ranking.py owns them and explains them); this module only
knows how to express them over `practitioner_search`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
    soonest: float
    distance_scale_km: float
    prior_mean: float
    prior_weight: float


@dataclass(frozen=True, slots=True)
class Candidate:
    id: uuid.UUID
    text: float  # each factor in [0, 1]
    distance: float
    rating: float
    soonest: float  # 0 unless the search ranks by the first free slot
    score: float  # the weighted sum of the factors
    distance_km: float | None
    rating_count: int
    rating_average: float | None
    free_at: datetime | None  # the recorded first free slot the soonest factor was computed from


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


def _soonest_sql(as_of: str) -> tuple[str, str]:
    """The recorded first free slot as it stood at `as_of` (the value before a change made after it), and the
    soonest factor from it: 1 / (1 + hours / 24), 0 without one; discovery/ranking.py has the same formula."""
    free_at = f"CASE WHEN s.next_free_since <= {as_of} THEN s.next_free_at ELSE s.next_free_before END"
    factor = f"""CASE WHEN f.free_at IS NULL THEN 0::float8
        ELSE 1 / (1 + greatest(0, extract(epoch FROM f.free_at - {as_of}))::float8 / 86400) END"""
    return free_at, factor


def _search_sql(
    f: Filters, w: Weights, *, limit: int, before: tuple[float, uuid.UUID] | None, soonest_from: datetime | None,
) -> tuple[str, list[object]]:
    """The statement for these filters: only the conditions that apply, so each shape gets its own plan (a
    condition such as `$3 IS NULL OR ...` would keep a generic plan off the indexes)."""
    p = _Params()
    where, text, distance = [], "0::float8", "NULL::float8"
    free_at, soonest = "NULL::timestamptz", "0::float8"
    if soonest_from is not None:
        free_at, soonest = _soonest_sql(p(soonest_from, "timestamptz"))
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
               + {p(w.rating, 'float8')} * sc.rating_f + {p(w.soonest, 'float8')} * sc.soonest_f AS score
  FROM (
    SELECT f.*, CASE WHEN f.distance_km IS NULL THEN 0 ELSE 1 / (1 + f.distance_km / {scale}) END AS distance_f,
           ({mean} * {weight} + f.rating_sum) / ({weight} + f.rating_count) / 5 AS rating_f,
           {soonest} AS soonest_f
    FROM (
      SELECT s.practitioner_id AS id, s.rating_count, s.rating_sum, {text} AS text_f, {distance} AS distance_km,
             {free_at} AS free_at
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
    soonest_from: datetime | None = None,
) -> list[Candidate]:
    """Practitioners passing every filter, best score first; `before` is the (score, id) a page continues after.
    With `soonest_from`, the score counts the recorded first free slot as it stood at that instant."""
    sql, args = _search_sql(f, w, limit=limit, before=before, soonest_from=soonest_from)
    rows = await db.fetch("discovery.candidates", sql, *args)
    return [_candidate(r) for r in rows]


def _candidate(r: asyncpg.Record) -> Candidate:
    count = r["rating_count"]
    return Candidate(
        id=r["id"], text=r["text_f"], distance=r["distance_f"], rating=r["rating_f"], soonest=r["soonest_f"],
        score=r["score"], distance_km=r["distance_km"], rating_count=count,
        rating_average=None if count == 0 else r["rating_sum"] / count, free_at=r["free_at"],
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


@dataclass(frozen=True, slots=True)
class FirstFree:
    """A practitioner's first free slot as the slot finder found it, and when time alone may move it."""

    at: datetime | None  # the first bookable start of any active offering in the window; None: none
    recheck_at: datetime | None  # None: only a change of what the slot finder reads moves it


@dataclass(frozen=True, slots=True)
class Due:
    """A practitioner whose first free slot must be found again, and the version of the mark."""

    practitioner_id: uuid.UUID
    version: int


async def first_free_due(db: Database, now: datetime, *, limit: int) -> list[Due]:
    """Practitioners whose first free slot is due for computing (storage/migrations/0110), longest due first."""
    rows = await db.fetch(
        "discovery.first_free_due",
        "SELECT practitioner_id, version FROM next_free_due WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
        now, limit,
    )
    return [Due(r["practitioner_id"], r["version"]) for r in rows]


async def record_first_free(db: Database, found: Sequence[tuple[Due, FirstFree]], now: datetime) -> tuple[int, int]:
    """Store computed first free slots: each only if its mark's version is still the one read before computing
    (a change since leaves it due, for the next run), and on the search row only if it moved, keeping the value
    it replaces for the pages of searches begun before `now`. Returns (stored, moved)."""
    row = await db.fetchrow(
        "discovery.record_first_free",
        """
        WITH found AS (
            SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::timestamptz[])
                AS f (practitioner_id, version, at, recheck_at)
        ), kept AS (
            UPDATE next_free_due d SET due_at = coalesce(f.recheck_at, 'infinity')
            FROM found f WHERE d.practitioner_id = f.practitioner_id AND d.version = f.version
            RETURNING f.practitioner_id, f.at
        ), moved AS (
            UPDATE practitioner_search s
            SET next_free_before = s.next_free_at, next_free_at = k.at, next_free_since = $5
            FROM kept k WHERE s.practitioner_id = k.practitioner_id AND s.next_free_at IS DISTINCT FROM k.at
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM kept) AS stored, (SELECT count(*) FROM moved) AS moved
        """,
        [d.practitioner_id for d, _ in found], [d.version for d, _ in found], [f.at for _, f in found],
        [f.recheck_at for _, f in found], now,
    )
    return (0, 0) if row is None else (row["stored"], row["moved"])
